package wire_test

import (
	"bytes"
	"reflect"

	"github.com/ephemera-im/ephemera/net/wire"
)

// equalMessages compares two messages field by field. A nil and an empty
// byte string or list are equal: the encoding cannot tell them apart.
func equalMessages(a, b wire.Message) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Type() != vb.Type() {
		return false
	}
	va, vb = va.Elem(), vb.Elem()
	for i := 0; i < va.NumField(); i++ {
		if !equalValues(va.Field(i), vb.Field(i)) {
			return false
		}
	}
	return true
}

func equalValues(a, b reflect.Value) bool {
	switch v := a.Interface().(type) {
	case []byte:
		return bytes.Equal(v, b.Interface().([]byte))
	case [][]byte:
		w := b.Interface().([][]byte)
		if len(v) != len(w) {
			return false
		}
		for i := range v {
			if !bytes.Equal(v[i], w[i]) {
				return false
			}
		}
		return true
	case []uint64:
		w := b.Interface().([]uint64)
		if len(v) != len(w) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// fill returns n bytes start, start+1, ... (mod 256).
func fill(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func key(start byte) (k wire.Key32) { copy(k[:], fill(32, start)); return }

func mailboxID(start byte) wire.MailboxID { return wire.MailboxID(key(start)) }

func blobID(start byte) wire.BlobID { return wire.BlobID(key(start)) }

func signature(start byte) (s wire.Signature) { copy(s[:], fill(64, start)); return }

func prekeyList(n, size int) [][]byte {
	l := make([][]byte, n)
	for i := range l {
		l[i] = fill(size, byte(i))
	}
	return l
}

func seqList(n int) []uint64 {
	l := make([]uint64, n)
	for i := range l {
		l[i] = uint64(i)*0x0101010101 + 1
	}
	return l
}

type frameCase struct {
	name string
	id   uint32
	msg  wire.Message
	big  bool // too large for per-byte sweeps
}

// roundTripCases covers every frame type with empty, ordinary and maximal
// fields.
func roundTripCases() []frameCase {
	mb, blob := mailboxID(0x30), blobID(0x50)
	return []frameCase{
		{name: "ServerHello/zero", msg: &wire.ServerHello{}},
		{name: "ServerHello/defaults", msg: &wire.ServerHello{Relay: key(1), Challenge: key(2), MaxEnvelope: 256 << 10, DefaultTTL: 2592000, MaxTTL: 2592000, MaxBlob: 1 << 30, MaxChunk: 256 << 10}},
		{name: "ServerHello/max", msg: &wire.ServerHello{Relay: key(0xff), Challenge: key(0xfe), MaxEnvelope: ^uint32(0), DefaultTTL: ^uint32(0), MaxTTL: ^uint32(0), MaxBlob: ^uint64(0), MaxChunk: ^uint32(0)}},
		{name: "Ping", id: 1, msg: &wire.Ping{}},
		{name: "Ping/max-id", id: ^uint32(0), msg: &wire.Ping{}},
		{name: "Pong", id: 1, msg: &wire.Pong{}},
		{name: "Register", id: 2, msg: &wire.Register{Mailbox: mb, OwnerKey: key(3), SendTokenHash: key(4), Signature: signature(5)}},
		{name: "Register/open", id: 2, msg: &wire.Register{Mailbox: mb, OwnerKey: key(3), Signature: signature(5)}},
		{name: "Auth", id: 3, msg: &wire.Auth{Mailbox: mb, Signature: signature(6)}},
		{name: "Send/empty", id: 4, msg: &wire.Send{Mailbox: mb}},
		{name: "Send", id: 4, msg: &wire.Send{Mailbox: mb, SendToken: key(7), TTL: 3600, Envelope: fill(100, 0)}},
		{name: "Send/max", id: 4, msg: &wire.Send{Mailbox: mb, SendToken: key(7), TTL: ^uint32(0), Envelope: fill(wire.MaxEnvelopeSize, 1)}, big: true},
		{name: "Ack/empty", id: 5, msg: &wire.Ack{Mailbox: mb}},
		{name: "Ack", id: 5, msg: &wire.Ack{Mailbox: mb, Seqs: []uint64{1, 2, ^uint64(0)}}},
		{name: "Ack/max", id: 5, msg: &wire.Ack{Mailbox: mb, Seqs: seqList(wire.MaxAckCount)}, big: true},
		{name: "PutPrekeys/empty", id: 6, msg: &wire.PutPrekeys{Mailbox: mb}},
		{name: "PutPrekeys", id: 6, msg: &wire.PutPrekeys{Mailbox: mb, Replace: true, Bundle: fill(40, 1), LastResort: fill(8, 2), OneTime: [][]byte{fill(4, 3), nil, fill(1, 4)}}},
		{name: "PutPrekeys/max", id: 6, msg: &wire.PutPrekeys{Mailbox: mb, Bundle: fill(wire.MaxPrekeySize, 1), LastResort: fill(wire.MaxPrekeySize, 2), OneTime: prekeyList(wire.MaxPrekeyCount, wire.MaxPrekeySize)}, big: true},
		{name: "ClaimPrekey", id: 7, msg: &wire.ClaimPrekey{Mailbox: mb}},
		{name: "BlobCreate", id: 8, msg: &wire.BlobCreate{Mailbox: mb, Size: 1 << 30, TTL: 86400}},
		{name: "BlobPut/empty", id: 9, msg: &wire.BlobPut{Mailbox: mb, Blob: blob}},
		{name: "BlobPut", id: 9, msg: &wire.BlobPut{Mailbox: mb, Blob: blob, Offset: 1 << 20, Data: fill(64, 9)}},
		{name: "BlobPut/max", id: 9, msg: &wire.BlobPut{Mailbox: mb, Blob: blob, Offset: ^uint64(0), Data: fill(wire.MaxChunkSize, 9)}, big: true},
		{name: "BlobStat", id: 10, msg: &wire.BlobStat{Blob: blob}},
		{name: "BlobGet", id: 11, msg: &wire.BlobGet{Blob: blob, Offset: 5, Length: 256 << 10}},
		{name: "BlobGet/max", id: 11, msg: &wire.BlobGet{Blob: blob, Offset: ^uint64(0), Length: wire.MaxChunkSize}},
		{name: "OK", id: 12, msg: &wire.OK{}},
		{name: "Error/empty", id: 13, msg: &wire.Error{}},
		{name: "Error", id: 13, msg: &wire.Error{Code: wire.CodeQuota, Message: "mailbox full"}},
		{name: "Error/max", id: 13, msg: &wire.Error{Code: ^wire.ErrorCode(0), Message: string(fill(wire.MaxErrorMessage, 0))}},
		{name: "Sent", id: 14, msg: &wire.Sent{Seq: ^uint64(0)}},
		{name: "PrekeysStored", id: 15, msg: &wire.PrekeysStored{Remaining: 7}},
		{name: "Prekey/empty", id: 16, msg: &wire.Prekey{}},
		{name: "Prekey", id: 16, msg: &wire.Prekey{Bundle: fill(40, 1), Key: fill(4, 2)}},
		{name: "Prekey/last-resort-max", id: 16, msg: &wire.Prekey{Bundle: fill(wire.MaxPrekeySize, 1), Key: fill(wire.MaxPrekeySize, 2), LastResort: true}, big: true},
		{name: "BlobCreated", id: 17, msg: &wire.BlobCreated{Blob: blob}},
		{name: "BlobStatus", id: 18, msg: &wire.BlobStatus{Size: 10, Have: 5, Expires: 1767225600}},
		{name: "BlobData/empty", id: 19, msg: &wire.BlobData{}},
		{name: "BlobData", id: 19, msg: &wire.BlobData{Offset: 3, Data: fill(33, 7)}},
		{name: "BlobData/max", id: 19, msg: &wire.BlobData{Offset: ^uint64(0), Data: fill(wire.MaxChunkSize, 7)}, big: true},
		{name: "Deliver/empty", msg: &wire.Deliver{Mailbox: mb}},
		{name: "Deliver", msg: &wire.Deliver{Mailbox: mb, Seq: 42, Received: 1767225600123, Envelope: fill(100, 3)}},
		{name: "Deliver/max", msg: &wire.Deliver{Mailbox: mb, Seq: ^uint64(0), Received: ^uint64(0), Envelope: fill(wire.MaxEnvelopeSize, 3)}, big: true},
	}
}
