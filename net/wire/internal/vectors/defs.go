package vectors

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/ephemera-im/ephemera/net/wire"
)

// Reasons an invalid vector is refused. They are the protocol's names for
// the classes of malformed frame, listed in docs/PROTOCOL.md.
const (
	ReasonShortFrame    = "short-frame"    // fewer than the 6 header bytes
	ReasonBadVersion    = "bad-version"    // version byte is not 1
	ReasonUnknownType   = "unknown-type"   // type byte names no frame
	ReasonTruncated     = "truncated"      // the body ends inside a field
	ReasonTrailingBytes = "trailing-bytes" // bytes after the last field
	ReasonBadBoolean    = "bad-boolean"    // a boolean byte that is not 0 or 1
	ReasonTooLong       = "too-long"       // a length prefix above the field's limit
	ReasonTooMany       = "too-many"       // a list count above the list's limit
	ReasonOutOfRange    = "out-of-range"   // an integer field above its limit
)

// seq returns n bytes start, start+1, ... (mod 256): fixed, recognisable
// filler for ids and keys.
func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func k32(start byte) (k [32]byte) { copy(k[:], seq(32, start)); return }

// rfc8032Seed is the secret key of RFC 8032 section 7.1, TEST 1. Its
// public key is d75a9801...0f707511a.
var rfc8032Seed, _ = hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")

// All returns every vector, valid ones first. The bytes are fixed, so the
// output is the same on every run.
func All() ([]*Vector, error) {
	var out []*Vector
	valid := func(name, comment string, id uint32, m wire.Message) *Vector {
		fs, err := FieldsOf(m)
		if err != nil {
			panic(err)
		}
		code := int(m.Type())
		id64 := int64(id)
		v := &Vector{
			Name: name, Comment: comment, Valid: true,
			Type: m.Type().String(), TypeCode: &code, ID: &id64,
			Fields: fs, Frame: hex.EncodeToString(wire.Encode(id, m)),
		}
		out = append(out, v)
		return v
	}
	invalid := func(name, comment, reason string, frame []byte) {
		out = append(out, &Vector{Name: name, Comment: comment, Reason: reason, Frame: hex.EncodeToString(frame)})
	}

	mailbox := wire.MailboxID(k32(0x30))
	blob := wire.BlobID(k32(0x50))

	valid("server-hello", "relay defaults: 256 KiB envelopes, 30-day TTL, 1 GiB blobs, 256 KiB chunks", 0, &wire.ServerHello{
		Relay: k32(0x10), Challenge: k32(0x20),
		MaxEnvelope: 256 << 10, DefaultTTL: 30 * 86400, MaxTTL: 30 * 86400,
		MaxBlob: 1 << 30, MaxChunk: 256 << 10,
	})
	valid("ping", "", 1, &wire.Ping{})
	valid("pong", "", 1, &wire.Pong{})
	valid("ping-max-id", "request ids use all 32 bits", 0xffffffff, &wire.Ping{})

	// Register and Auth with real Ed25519 signatures over AuthMessage.
	priv := ed25519.NewKeyFromSeed(rfc8032Seed)
	var owner wire.Key32
	copy(owner[:], priv.Public().(ed25519.PublicKey))
	relay, challenge := wire.Key32(k32(0x10)), wire.Key32(k32(0x20))
	token := wire.Key32(k32(0x40))
	tokenHash := wire.Key32(sha256.Sum256(token[:]))
	signed := func(op byte, th wire.Key32) (*Auth, wire.Signature) {
		msg := wire.AuthMessage(op, relay, challenge, mailbox, owner, th)
		var sig wire.Signature
		copy(sig[:], ed25519.Sign(priv, msg))
		a := &Auth{
			Op: int(op), Seed: hex.EncodeToString(rfc8032Seed),
			Relay: hex.EncodeToString(relay[:]), Challenge: hex.EncodeToString(challenge[:]),
			Mailbox: hex.EncodeToString(mailbox[:]), Owner: hex.EncodeToString(owner[:]),
			TokenHash: hex.EncodeToString(th[:]), SignedData: hex.EncodeToString(msg),
			Signature: hex.EncodeToString(sig[:]),
		}
		return a, sig
	}
	a, sig := signed(wire.OpRegister, tokenHash)
	a.SendToken = hex.EncodeToString(token[:])
	valid("register", "owner key and signature from the RFC 8032 TEST 1 seed; send_token_hash = SHA-256(auth.send_token); signed over the server-hello vector's relay and challenge",
		2, &wire.Register{Mailbox: mailbox, OwnerKey: owner, SendTokenHash: tokenHash, Signature: sig}).Auth = a
	a, sig = signed(wire.OpRegister, wire.Key32{})
	valid("register-open", "zero send_token_hash: an open mailbox anyone may send to", 2,
		&wire.Register{Mailbox: mailbox, OwnerKey: owner, Signature: sig}).Auth = a
	a, sig = signed(wire.OpAuth, wire.Key32{})
	valid("auth", "signature over AuthMessage(op 2, relay, challenge, mailbox, owner, zero token hash)", 3,
		&wire.Auth{Mailbox: mailbox, Signature: sig}).Auth = a

	valid("send", "", 4, &wire.Send{Mailbox: mailbox, SendToken: token, TTL: 3600, Envelope: []byte("sealed envelope")})
	valid("send-empty", "empty envelope, zero token (open mailbox), TTL 0 = relay default", 4, &wire.Send{Mailbox: mailbox})
	valid("ack", "", 5, &wire.Ack{Mailbox: mailbox, Seqs: []uint64{1, 2, 0x0102030405060708}})
	valid("ack-empty", "", 5, &wire.Ack{Mailbox: mailbox, Seqs: []uint64{}})
	ackMax := make([]uint64, wire.MaxAckCount)
	for i := range ackMax {
		ackMax[i] = uint64(i + 1)
	}
	valid("ack-max", "4096 sequence numbers, the limit", 5, &wire.Ack{Mailbox: mailbox, Seqs: ackMax})
	valid("put-prekeys", "", 6, &wire.PutPrekeys{
		Mailbox: mailbox, Replace: true, Bundle: seq(40, 0x60), LastResort: seq(8, 0x70),
		OneTime: [][]byte{seq(4, 0x80), {}, seq(3, 0x90)},
	})
	valid("put-prekeys-empty", "", 6, &wire.PutPrekeys{Mailbox: mailbox, Bundle: []byte{}, LastResort: []byte{}, OneTime: [][]byte{}})
	valid("put-prekeys-max-count", "500 empty one-time keys, the limit", 6, &wire.PutPrekeys{
		Mailbox: mailbox, Bundle: []byte{}, LastResort: []byte{}, OneTime: make500(),
	})
	valid("put-prekeys-max-size", "a 16384-byte bundle, the limit", 6, &wire.PutPrekeys{
		Mailbox: mailbox, Bundle: seq(wire.MaxPrekeySize, 0), LastResort: []byte{}, OneTime: [][]byte{},
	})
	valid("claim-prekey", "", 7, &wire.ClaimPrekey{Mailbox: mailbox})
	valid("blob-create", "", 8, &wire.BlobCreate{Mailbox: mailbox, Size: 5 << 20, TTL: 86400})
	valid("blob-put", "", 9, &wire.BlobPut{Mailbox: mailbox, Blob: blob, Offset: 256 << 10, Data: seq(16, 0xa0)})
	valid("blob-stat", "", 10, &wire.BlobStat{Blob: blob})
	valid("blob-get", "", 11, &wire.BlobGet{Blob: blob, Offset: 0, Length: 256 << 10})
	valid("blob-get-max", "length 4 MiB, the encoding's limit", 11, &wire.BlobGet{Blob: blob, Offset: 1 << 40, Length: wire.MaxChunkSize})
	valid("ok", "", 3, &wire.OK{})
	valid("error", "", 4, &wire.Error{Code: wire.CodeQuota, Message: "mailbox full"})
	valid("error-empty", "", 4, &wire.Error{Code: wire.CodeUnauthorized, Message: ""})
	valid("error-unknown-code", "unknown codes decode; clients treat them as permanent", 4, &wire.Error{Code: 999, Message: "from the future"})
	valid("error-max", "a 512-byte message, the limit", 4, &wire.Error{Code: wire.CodeInternal, Message: string(repeat('x', wire.MaxErrorMessage))})
	valid("error-utf8", "messages are UTF-8 text", 4, &wire.Error{Code: wire.CodeBadRequest, Message: "durée ≠ ok"})
	valid("sent", "", 4, &wire.Sent{Seq: 42})
	valid("prekeys-stored", "", 6, &wire.PrekeysStored{Remaining: 100})
	valid("prekey", "a one-time key", 7, &wire.Prekey{Bundle: seq(40, 0x60), Key: seq(4, 0x80)})
	valid("prekey-last-resort", "no one-time key left", 7, &wire.Prekey{Bundle: seq(40, 0x60), Key: seq(8, 0x70), LastResort: true})
	valid("blob-created", "", 8, &wire.BlobCreated{Blob: blob})
	valid("blob-status", "", 9, &wire.BlobStatus{Size: 5 << 20, Have: 256 << 10, Expires: 1767225600})
	valid("blob-data", "", 11, &wire.BlobData{Offset: 0, Data: seq(16, 0xa0)})
	valid("deliver", "", 0, &wire.Deliver{Mailbox: mailbox, Seq: 42, Received: 1767225600123, Envelope: []byte("sealed envelope")})

	// Invalid frames. Each is refused as a whole; the reason is the class
	// of error a decoder should report.
	frame := func(t wire.Type, id uint32, body ...[]byte) []byte {
		b := []byte{wire.Version, byte(t)}
		b = binary.BigEndian.AppendUint32(b, id)
		for _, p := range body {
			b = append(b, p...)
		}
		return b
	}
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	mb := mailbox[:]

	invalid("invalid-empty", "no bytes at all", ReasonShortFrame, []byte{})
	invalid("invalid-short-header", "5 of the 6 header bytes", ReasonShortFrame, []byte{1, 2, 0, 0, 0})
	invalid("invalid-version-0", "", ReasonBadVersion, []byte{0, 2, 0, 0, 0, 1})
	invalid("invalid-version-2", "", ReasonBadVersion, []byte{2, 2, 0, 0, 0, 1})
	invalid("invalid-type-0x00", "", ReasonUnknownType, frame(0x00, 1))
	invalid("invalid-type-0x04", "", ReasonUnknownType, frame(0x04, 1))
	invalid("invalid-type-0xff", "", ReasonUnknownType, frame(0xff, 1))
	invalid("invalid-ping-trailing", "Ping has no body", ReasonTrailingBytes, frame(wire.TypePing, 1, []byte{0}))
	invalid("invalid-send-trailing", "one byte after the envelope", ReasonTrailingBytes,
		frame(wire.TypeSend, 4, mb, token[:], u32(0), u32(2), []byte("hi"), []byte{0}))
	invalid("invalid-register-truncated", "signature cut short", ReasonTruncated,
		frame(wire.TypeRegister, 2, mb, owner[:], tokenHash[:], make([]byte, 63)))
	invalid("invalid-send-truncated-length", "envelope length prefix cut short", ReasonTruncated,
		frame(wire.TypeSend, 4, mb, token[:], u32(0), []byte{0, 0, 0}))
	invalid("invalid-send-truncated-envelope", "envelope length 3, 2 bytes follow", ReasonTruncated,
		frame(wire.TypeSend, 4, mb, token[:], u32(0), u32(3), []byte("hi")))
	invalid("invalid-ack-truncated", "count 2, one sequence number follows", ReasonTruncated,
		frame(wire.TypeAck, 5, mb, u16(2), u64(1)))
	invalid("invalid-put-prekeys-bool-2", "replace byte 2", ReasonBadBoolean,
		frame(wire.TypePutPrekeys, 6, mb, []byte{2}, u32(0), u32(0), u16(0)))
	invalid("invalid-prekey-bool-ff", "last_resort byte 0xff", ReasonBadBoolean,
		frame(wire.TypePrekey, 7, u32(0), u32(0), []byte{0xff}))
	invalid("invalid-send-envelope-too-long", "envelope length 16 MiB + 1; a decoder refuses the length before looking for the bytes", ReasonTooLong,
		frame(wire.TypeSend, 4, mb, token[:], u32(0), u32(wire.MaxEnvelopeSize+1)))
	invalid("invalid-deliver-envelope-too-long", "envelope length 16 MiB + 1", ReasonTooLong,
		frame(wire.TypeDeliver, 0, mb, u64(1), u64(0), u32(wire.MaxEnvelopeSize+1)))
	invalid("invalid-blob-put-chunk-too-long", "chunk length 4 MiB + 1", ReasonTooLong,
		frame(wire.TypeBlobPut, 9, mb, blob[:], u64(0), u32(wire.MaxChunkSize+1)))
	invalid("invalid-blob-data-too-long", "data length 4 MiB + 1", ReasonTooLong,
		frame(wire.TypeBlobData, 11, u64(0), u32(wire.MaxChunkSize+1)))
	invalid("invalid-length-ffffffff", "length 2^32-1", ReasonTooLong,
		frame(wire.TypeSend, 4, mb, token[:], u32(0), u32(0xffffffff)))
	invalid("invalid-blob-get-length", "length 4 MiB + 1", ReasonOutOfRange,
		frame(wire.TypeBlobGet, 11, blob[:], u64(0), u32(wire.MaxChunkSize+1)))
	invalid("invalid-error-message-too-long", "a 513-byte message, all present", ReasonTooLong,
		frame(wire.TypeError, 4, u16(1), u32(wire.MaxErrorMessage+1), repeat('x', wire.MaxErrorMessage+1)))
	invalid("invalid-prekey-bundle-too-long", "a 16385-byte bundle, all present", ReasonTooLong,
		frame(wire.TypePutPrekeys, 6, mb, []byte{0}, u32(wire.MaxPrekeySize+1), seq(wire.MaxPrekeySize+1, 0), u32(0), u16(0)))
	invalid("invalid-prekey-key-too-long", "Prekey.key of 16385 bytes", ReasonTooLong,
		frame(wire.TypePrekey, 7, u32(0), u32(wire.MaxPrekeySize+1), seq(wire.MaxPrekeySize+1, 0), []byte{0}))
	ack4097 := []byte{}
	for i := range wire.MaxAckCount + 1 {
		ack4097 = append(ack4097, u64(uint64(i+1))...)
	}
	invalid("invalid-ack-too-many", "4097 sequence numbers, all present", ReasonTooMany,
		frame(wire.TypeAck, 5, mb, u16(wire.MaxAckCount+1), ack4097))
	otk501 := make([]byte, 4*(wire.MaxPrekeyCount+1))
	invalid("invalid-prekey-count-too-many", "501 empty one-time keys, all present", ReasonTooMany,
		frame(wire.TypePutPrekeys, 6, mb, []byte{0}, u32(0), u32(0), u16(wire.MaxPrekeyCount+1), otk501))

	// Check the generator's own claims before anyone relies on them.
	for _, v := range out {
		b, _ := v.FrameBytes()
		_, _, err := wire.Decode(b)
		if v.Valid != (err == nil) {
			return nil, fmt.Errorf("vector %s: valid=%v but Decode gives %v", v.Name, v.Valid, err)
		}
	}
	return out, nil
}

func make500() [][]byte {
	l := make([][]byte, wire.MaxPrekeyCount)
	for i := range l {
		l[i] = []byte{}
	}
	return l
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}
