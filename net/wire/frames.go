package wire

import (
	"encoding/hex"
	"fmt"
)

// MailboxID names a mailbox: 32 random bytes chosen by its owner.
type MailboxID [32]byte

// BlobID names a blob: 32 random bytes chosen by the relay.
type BlobID [32]byte

// Key32 is a 32-byte key: an Ed25519 public key, a send token or its hash.
type Key32 [32]byte

// Signature is an Ed25519 signature.
type Signature [64]byte

// String returns the first 8 hex digits only: enough to tell ids apart in a
// debug log without writing a full mailbox id anywhere.
func (m MailboxID) String() string { return hex.EncodeToString(m[:4]) }

// String returns the first 8 hex digits only.
func (b BlobID) String() string { return hex.EncodeToString(b[:4]) }

// IsZero reports whether every byte of k is zero.
func (k Key32) IsZero() bool { return k == Key32{} }

// Type is the second byte of a frame.
type Type uint8

// Frame types. Requests are sent by clients, responses answer a request with
// its id, pushes are sent by the relay with id 0.
const (
	TypeServerHello Type = 0x01 // push: first frame on every connection
	TypePing        Type = 0x02 // request
	TypePong        Type = 0x03 // response to Ping

	TypeRegister Type = 0x10 // request
	TypeAuth     Type = 0x11 // request
	TypeSend     Type = 0x12 // request
	TypeAck      Type = 0x13 // request

	TypePutPrekeys  Type = 0x20 // request
	TypeClaimPrekey Type = 0x21 // request

	TypeBlobCreate Type = 0x30 // request
	TypeBlobPut    Type = 0x31 // request
	TypeBlobStat   Type = 0x32 // request
	TypeBlobGet    Type = 0x33 // request

	TypeOK            Type = 0x80 // response
	TypeError         Type = 0x81 // response
	TypeSent          Type = 0x82 // response to Send
	TypePrekeysStored Type = 0x83 // response to PutPrekeys
	TypePrekey        Type = 0x84 // response to ClaimPrekey
	TypeBlobCreated   Type = 0x85 // response to BlobCreate
	TypeBlobStatus    Type = 0x86 // response to BlobPut and BlobStat
	TypeBlobData      Type = 0x87 // response to BlobGet

	TypeDeliver Type = 0x90 // push: an envelope for an authenticated mailbox
)

// Message is the body of one frame.
type Message interface {
	Type() Type
	encode(w *writer)
	decode(r *reader)
}

// ServerHello is the first frame of every connection. Challenge is fresh
// for the connection; Relay is the relay's long-term identity. Limits are
// the relay's: requests beyond them are refused.
type ServerHello struct {
	Relay       Key32
	Challenge   Key32
	MaxEnvelope uint32 // bytes
	DefaultTTL  uint32 // seconds
	MaxTTL      uint32 // seconds
	MaxBlob     uint64 // bytes
	MaxChunk    uint32 // bytes of one BlobPut or BlobGet
}

// Ping asks for a Pong; clients send it to keep an idle connection open.
type Ping struct{}

// Pong answers Ping.
type Pong struct{}

// Register creates a mailbox owned by OwnerKey, or updates the send token of
// a mailbox already owned by the same key, and authenticates this connection
// for it. Signature signs AuthMessage(OpRegister, ...). A zero SendTokenHash
// lets anyone send; otherwise Send must present a token whose SHA-256 is
// SendTokenHash.
type Register struct {
	Mailbox       MailboxID
	OwnerKey      Key32
	SendTokenHash Key32
	Signature     Signature
}

// Auth authenticates this connection for an existing mailbox. Signature
// signs AuthMessage(OpAuth, ...). After it, the relay pushes the mailbox's
// stored envelopes in order and new ones as they arrive.
type Auth struct {
	Mailbox   MailboxID
	Signature Signature
}

// Send stores Envelope in Mailbox for TTL seconds (0 means the relay's
// default). The relay answers Sent only once the envelope is durable.
type Send struct {
	Mailbox   MailboxID
	SendToken Key32
	TTL       uint32
	Envelope  []byte
}

// Ack deletes delivered envelopes from an authenticated mailbox.
type Ack struct {
	Mailbox MailboxID
	Seqs    []uint64
}

// PutPrekeys stores prekeys for an authenticated mailbox. Bundle and
// LastResort replace the stored ones when non-empty; OneTime keys are
// appended, or replace the stored ones when Replace is set.
type PutPrekeys struct {
	Mailbox    MailboxID
	Replace    bool
	Bundle     []byte
	LastResort []byte
	OneTime    [][]byte
}

// ClaimPrekey asks for a mailbox's prekey bundle and one one-time key.
type ClaimPrekey struct {
	Mailbox MailboxID
}

// BlobCreate reserves a blob of Size bytes charged to an authenticated
// mailbox, kept for TTL seconds (0 means the relay's default).
type BlobCreate struct {
	Mailbox MailboxID
	Size    uint64
	TTL     uint32
}

// BlobPut writes Data at Offset. Only the blob's creating connection's
// mailbox may write; Offset must equal the bytes the relay already has.
type BlobPut struct {
	Mailbox MailboxID
	Blob    BlobID
	Offset  uint64
	Data    []byte
}

// BlobStat asks how much of a blob the relay has.
type BlobStat struct {
	Blob BlobID
}

// BlobGet reads up to Length bytes of a complete blob from Offset.
type BlobGet struct {
	Blob   BlobID
	Offset uint64
	Length uint32
}

// OK answers a request that returns nothing.
type OK struct{}

// Error answers a request that failed.
type Error struct {
	Code    ErrorCode
	Message string
}

// Sent answers Send: the envelope is durable under Seq in the mailbox.
type Sent struct {
	Seq uint64
}

// PrekeysStored answers PutPrekeys with the number of one-time keys left.
type PrekeysStored struct {
	Remaining uint32
}

// Prekey answers ClaimPrekey. Key is a one-time key, or the last-resort key
// (LastResort set) when none are left.
type Prekey struct {
	Bundle     []byte
	Key        []byte
	LastResort bool
}

// BlobCreated answers BlobCreate.
type BlobCreated struct {
	Blob BlobID
}

// BlobStatus answers BlobPut and BlobStat.
type BlobStatus struct {
	Size    uint64
	Have    uint64
	Expires uint64 // unix seconds
}

// BlobData answers BlobGet.
type BlobData struct {
	Offset uint64
	Data   []byte
}

// Deliver pushes one stored envelope of an authenticated mailbox.
type Deliver struct {
	Mailbox  MailboxID
	Seq      uint64
	Received uint64 // unix milliseconds, relay clock
	Envelope []byte
}

func (*ServerHello) Type() Type   { return TypeServerHello }
func (*Ping) Type() Type          { return TypePing }
func (*Pong) Type() Type          { return TypePong }
func (*Register) Type() Type      { return TypeRegister }
func (*Auth) Type() Type          { return TypeAuth }
func (*Send) Type() Type          { return TypeSend }
func (*Ack) Type() Type           { return TypeAck }
func (*PutPrekeys) Type() Type    { return TypePutPrekeys }
func (*ClaimPrekey) Type() Type   { return TypeClaimPrekey }
func (*BlobCreate) Type() Type    { return TypeBlobCreate }
func (*BlobPut) Type() Type       { return TypeBlobPut }
func (*BlobStat) Type() Type      { return TypeBlobStat }
func (*BlobGet) Type() Type       { return TypeBlobGet }
func (*OK) Type() Type            { return TypeOK }
func (*Error) Type() Type         { return TypeError }
func (*Sent) Type() Type          { return TypeSent }
func (*PrekeysStored) Type() Type { return TypePrekeysStored }
func (*Prekey) Type() Type        { return TypePrekey }
func (*BlobCreated) Type() Type   { return TypeBlobCreated }
func (*BlobStatus) Type() Type    { return TypeBlobStatus }
func (*BlobData) Type() Type      { return TypeBlobData }
func (*Deliver) Type() Type       { return TypeDeliver }

func (m *ServerHello) encode(w *writer) {
	w.fixed(m.Relay[:])
	w.fixed(m.Challenge[:])
	w.u32(m.MaxEnvelope)
	w.u32(m.DefaultTTL)
	w.u32(m.MaxTTL)
	w.u64(m.MaxBlob)
	w.u32(m.MaxChunk)
}

func (m *ServerHello) decode(r *reader) {
	r.fixed(m.Relay[:], "relay")
	r.fixed(m.Challenge[:], "challenge")
	m.MaxEnvelope = r.u32("max envelope")
	m.DefaultTTL = r.u32("default ttl")
	m.MaxTTL = r.u32("max ttl")
	m.MaxBlob = r.u64("max blob")
	m.MaxChunk = r.u32("max chunk")
}

func (*Ping) encode(*writer) {}
func (*Ping) decode(*reader) {}
func (*Pong) encode(*writer) {}
func (*Pong) decode(*reader) {}
func (*OK) encode(*writer)   {}
func (*OK) decode(*reader)   {}

func (m *Register) encode(w *writer) {
	w.fixed(m.Mailbox[:])
	w.fixed(m.OwnerKey[:])
	w.fixed(m.SendTokenHash[:])
	w.fixed(m.Signature[:])
}

func (m *Register) decode(r *reader) {
	r.fixed(m.Mailbox[:], "mailbox")
	r.fixed(m.OwnerKey[:], "owner key")
	r.fixed(m.SendTokenHash[:], "send token hash")
	r.fixed(m.Signature[:], "signature")
}

func (m *Auth) encode(w *writer) {
	w.fixed(m.Mailbox[:])
	w.fixed(m.Signature[:])
}

func (m *Auth) decode(r *reader) {
	r.fixed(m.Mailbox[:], "mailbox")
	r.fixed(m.Signature[:], "signature")
}

func (m *Send) encode(w *writer) {
	w.fixed(m.Mailbox[:])
	w.fixed(m.SendToken[:])
	w.u32(m.TTL)
	w.bytes(m.Envelope)
}

func (m *Send) decode(r *reader) {
	r.fixed(m.Mailbox[:], "mailbox")
	r.fixed(m.SendToken[:], "send token")
	m.TTL = r.u32("ttl")
	m.Envelope = r.bytes(MaxEnvelopeSize, "envelope")
}

func (m *Ack) encode(w *writer) {
	w.fixed(m.Mailbox[:])
	w.u16(uint16(len(m.Seqs)))
	for _, s := range m.Seqs {
		w.u64(s)
	}
}

func (m *Ack) decode(r *reader) {
	r.fixed(m.Mailbox[:], "mailbox")
	n := int(r.u16("ack count"))
	if n > MaxAckCount {
		r.fail("ack count %d, limit %d", n, MaxAckCount)
		return
	}
	if r.err != nil || len(r.b) < 8*n {
		r.fail("truncated ack list")
		return
	}
	m.Seqs = make([]uint64, n)
	for i := range m.Seqs {
		m.Seqs[i] = r.u64("seq")
	}
}

func (m *PutPrekeys) encode(w *writer) {
	w.fixed(m.Mailbox[:])
	w.boolean(m.Replace)
	w.bytes(m.Bundle)
	w.bytes(m.LastResort)
	w.u16(uint16(len(m.OneTime)))
	for _, k := range m.OneTime {
		w.bytes(k)
	}
}

func (m *PutPrekeys) decode(r *reader) {
	r.fixed(m.Mailbox[:], "mailbox")
	m.Replace = r.boolean("replace")
	m.Bundle = r.bytes(MaxPrekeySize, "bundle")
	m.LastResort = r.bytes(MaxPrekeySize, "last-resort key")
	n := int(r.u16("one-time key count"))
	if n > MaxPrekeyCount {
		r.fail("one-time key count %d, limit %d", n, MaxPrekeyCount)
		return
	}
	// Each key needs at least its 4-byte length: bound the allocation by
	// the input before making the slice.
	if r.err != nil || len(r.b) < 4*n {
		r.fail("truncated one-time key list")
		return
	}
	m.OneTime = make([][]byte, n)
	for i := range m.OneTime {
		m.OneTime[i] = r.bytes(MaxPrekeySize, "one-time key")
	}
}

func (m *ClaimPrekey) encode(w *writer) { w.fixed(m.Mailbox[:]) }
func (m *ClaimPrekey) decode(r *reader) { r.fixed(m.Mailbox[:], "mailbox") }

func (m *BlobCreate) encode(w *writer) {
	w.fixed(m.Mailbox[:])
	w.u64(m.Size)
	w.u32(m.TTL)
}

func (m *BlobCreate) decode(r *reader) {
	r.fixed(m.Mailbox[:], "mailbox")
	m.Size = r.u64("size")
	m.TTL = r.u32("ttl")
}

func (m *BlobPut) encode(w *writer) {
	w.fixed(m.Mailbox[:])
	w.fixed(m.Blob[:])
	w.u64(m.Offset)
	w.bytes(m.Data)
}

func (m *BlobPut) decode(r *reader) {
	r.fixed(m.Mailbox[:], "mailbox")
	r.fixed(m.Blob[:], "blob")
	m.Offset = r.u64("offset")
	m.Data = r.bytes(MaxChunkSize, "chunk")
}

func (m *BlobStat) encode(w *writer) { w.fixed(m.Blob[:]) }
func (m *BlobStat) decode(r *reader) { r.fixed(m.Blob[:], "blob") }

func (m *BlobGet) encode(w *writer) {
	w.fixed(m.Blob[:])
	w.u64(m.Offset)
	w.u32(m.Length)
}

func (m *BlobGet) decode(r *reader) {
	r.fixed(m.Blob[:], "blob")
	m.Offset = r.u64("offset")
	m.Length = r.u32("length")
	if m.Length > MaxChunkSize {
		r.fail("length %d, limit %d", m.Length, MaxChunkSize)
	}
}

func (m *Error) encode(w *writer) {
	w.u16(uint16(m.Code))
	w.str(m.Message)
}

func (m *Error) decode(r *reader) {
	m.Code = ErrorCode(r.u16("code"))
	m.Message = r.str(MaxErrorMessage, "message")
}

func (m *Sent) encode(w *writer) { w.u64(m.Seq) }
func (m *Sent) decode(r *reader) { m.Seq = r.u64("seq") }

func (m *PrekeysStored) encode(w *writer) { w.u32(m.Remaining) }
func (m *PrekeysStored) decode(r *reader) { m.Remaining = r.u32("remaining") }

func (m *Prekey) encode(w *writer) {
	w.bytes(m.Bundle)
	w.bytes(m.Key)
	w.boolean(m.LastResort)
}

func (m *Prekey) decode(r *reader) {
	m.Bundle = r.bytes(MaxPrekeySize, "bundle")
	m.Key = r.bytes(MaxPrekeySize, "key")
	m.LastResort = r.boolean("last resort")
}

func (m *BlobCreated) encode(w *writer) { w.fixed(m.Blob[:]) }
func (m *BlobCreated) decode(r *reader) { r.fixed(m.Blob[:], "blob") }

func (m *BlobStatus) encode(w *writer) {
	w.u64(m.Size)
	w.u64(m.Have)
	w.u64(m.Expires)
}

func (m *BlobStatus) decode(r *reader) {
	m.Size = r.u64("size")
	m.Have = r.u64("have")
	m.Expires = r.u64("expires")
}

func (m *BlobData) encode(w *writer) {
	w.u64(m.Offset)
	w.bytes(m.Data)
}

func (m *BlobData) decode(r *reader) {
	m.Offset = r.u64("offset")
	m.Data = r.bytes(MaxChunkSize, "data")
}

func (m *Deliver) encode(w *writer) {
	w.fixed(m.Mailbox[:])
	w.u64(m.Seq)
	w.u64(m.Received)
	w.bytes(m.Envelope)
}

func (m *Deliver) decode(r *reader) {
	r.fixed(m.Mailbox[:], "mailbox")
	m.Seq = r.u64("seq")
	m.Received = r.u64("received")
	m.Envelope = r.bytes(MaxEnvelopeSize, "envelope")
}

func newMessage(t Type) Message {
	switch t {
	case TypeServerHello:
		return new(ServerHello)
	case TypePing:
		return new(Ping)
	case TypePong:
		return new(Pong)
	case TypeRegister:
		return new(Register)
	case TypeAuth:
		return new(Auth)
	case TypeSend:
		return new(Send)
	case TypeAck:
		return new(Ack)
	case TypePutPrekeys:
		return new(PutPrekeys)
	case TypeClaimPrekey:
		return new(ClaimPrekey)
	case TypeBlobCreate:
		return new(BlobCreate)
	case TypeBlobPut:
		return new(BlobPut)
	case TypeBlobStat:
		return new(BlobStat)
	case TypeBlobGet:
		return new(BlobGet)
	case TypeOK:
		return new(OK)
	case TypeError:
		return new(Error)
	case TypeSent:
		return new(Sent)
	case TypePrekeysStored:
		return new(PrekeysStored)
	case TypePrekey:
		return new(Prekey)
	case TypeBlobCreated:
		return new(BlobCreated)
	case TypeBlobStatus:
		return new(BlobStatus)
	case TypeBlobData:
		return new(BlobData)
	case TypeDeliver:
		return new(Deliver)
	}
	return nil
}

// Encode returns the frame carrying m under request id id.
func Encode(id uint32, m Message) []byte {
	return AppendFrame(make([]byte, 0, 64), id, m)
}

// AppendFrame appends the frame carrying m under request id id to b.
func AppendFrame(b []byte, id uint32, m Message) []byte {
	w := writer{b: b}
	w.u8(Version)
	w.u8(uint8(m.Type()))
	w.u32(id)
	m.encode(&w)
	return w.b
}

// Decode parses one frame. The returned message never aliases b.
func Decode(b []byte) (id uint32, m Message, err error) {
	if len(b) > MaxFrameSize {
		return 0, nil, malformed("frame is %d bytes, limit %d", len(b), MaxFrameSize)
	}
	if len(b) < HeaderSize {
		return 0, nil, malformed("frame is %d bytes, shorter than the %d-byte header", len(b), HeaderSize)
	}
	if b[0] != Version {
		return 0, nil, malformed("unsupported version %d", b[0])
	}
	t := Type(b[1])
	m = newMessage(t)
	if m == nil {
		return 0, nil, malformed("unknown frame type 0x%02x", b[1])
	}
	r := reader{b: b[HeaderSize:]}
	id = uint32(b[2])<<24 | uint32(b[3])<<16 | uint32(b[4])<<8 | uint32(b[5])
	m.decode(&r)
	if err := r.done(); err != nil {
		return 0, nil, fmt.Errorf("%v frame: %w", t, err)
	}
	return id, m, nil
}

// String names a frame type, for errors and logs.
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(0x%02x)", uint8(t))
}

var typeNames = map[Type]string{
	TypeServerHello: "ServerHello", TypePing: "Ping", TypePong: "Pong",
	TypeRegister: "Register", TypeAuth: "Auth", TypeSend: "Send", TypeAck: "Ack",
	TypePutPrekeys: "PutPrekeys", TypeClaimPrekey: "ClaimPrekey",
	TypeBlobCreate: "BlobCreate", TypeBlobPut: "BlobPut", TypeBlobStat: "BlobStat", TypeBlobGet: "BlobGet",
	TypeOK: "OK", TypeError: "Error", TypeSent: "Sent", TypePrekeysStored: "PrekeysStored",
	TypePrekey: "Prekey", TypeBlobCreated: "BlobCreated", TypeBlobStatus: "BlobStatus",
	TypeBlobData: "BlobData", TypeDeliver: "Deliver",
}

// IsRequest reports whether clients may send frames of type t.
func (t Type) IsRequest() bool {
	switch t {
	case TypePing, TypeRegister, TypeAuth, TypeSend, TypeAck, TypePutPrekeys,
		TypeClaimPrekey, TypeBlobCreate, TypeBlobPut, TypeBlobStat, TypeBlobGet:
		return true
	}
	return false
}
