package boltstore

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/ephemera-im/ephemera/net/wire"
)

// Every record decoder must never panic, and must be canonical: whatever
// it accepts encodes back to the same bytes. Values built from arbitrary
// fields round-trip through encode and decode.

func FuzzMailboxRecord(f *testing.F) {
	f.Add((&mailboxRecord{Owner: wire.Key32{1}, LastSeq: 5, Messages: 2, Bytes: 100, NextOTK: 9, OTKs: 3}).encode())
	f.Add([]byte{recordVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMailbox(b)
		if err == nil && !bytes.Equal(m.encode(), b) {
			t.Fatalf("decode then encode: got %x, want %x", m.encode(), b)
		}
		// The bytes as field values: a valid record round-trips.
		if len(b) < mailboxRecordSize {
			return
		}
		var x mailboxRecord
		copy(x.Owner[:], b)
		copy(x.TokenHash[:], b[32:])
		u := func(i int) uint64 { return binary.BigEndian.Uint64(b[64+8*i:]) }
		x.Created, x.LastSeq, x.Messages, x.Bytes, x.NextOTK, x.OTKs = int64(u(0)), u(1), u(2), u(3)>>1, u(4), u(5)%500
		x.Messages = min(x.Messages, x.LastSeq)
		x.OTKs = min(x.OTKs, x.NextOTK)
		got, err := decodeMailbox(x.encode())
		if err != nil || got != x {
			t.Fatalf("encode then decode: got %+v, %v, want %+v", got, err, x)
		}
	})
}

func FuzzEnvelopeRecord(f *testing.F) {
	f.Add((&envelopeRecord{Received: 1, Expires: 2, Data: []byte("sealed")}).encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err == nil && !bytes.Equal(e.encode(), b) {
			t.Fatalf("decode then encode: got %x, want %x", e.encode(), b)
		}
		if len(b) < 16 {
			return
		}
		x := envelopeRecord{Received: int64(binary.BigEndian.Uint64(b)), Expires: int64(binary.BigEndian.Uint64(b[8:])), Data: b[16:]}
		got, err := decodeEnvelope(x.encode())
		if err != nil || got.Received != x.Received || got.Expires != x.Expires || !bytes.Equal(got.Data, x.Data) {
			t.Fatalf("encode then decode: got %+v, %v, want %+v", got, err, x)
		}
	})
}

func FuzzBlobRecord(f *testing.F) {
	f.Add((&blobRecord{Owner: wire.MailboxID{1}, Size: 10, Have: 4, Expires: 7}).encode())
	f.Add(make([]byte, blobRecordSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeBlob(b)
		if err == nil && !bytes.Equal(r.encode(), b) {
			t.Fatalf("decode then encode: got %x, want %x", r.encode(), b)
		}
		if len(b) < 32+24 {
			return
		}
		var x blobRecord
		copy(x.Owner[:], b)
		x.Size = int64(binary.BigEndian.Uint64(b[32:]) >> 1)
		x.Have = int64(binary.BigEndian.Uint64(b[40:])>>1) % (x.Size + 1)
		x.Expires = int64(binary.BigEndian.Uint64(b[48:]))
		got, err := decodeBlob(x.encode())
		if err != nil || got != x {
			t.Fatalf("encode then decode: got %+v, %v, want %+v", got, err, x)
		}
	})
}

func FuzzExpiryKey(f *testing.F) {
	f.Add(expiryEnvKey(5, wire.MailboxID{1}, 3))
	f.Add(expiryBlobKey(5, wire.BlobID{2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeExpiryKey(b)
		if err == nil && !bytes.Equal(e.key(), b) {
			t.Fatalf("decode then encode: got %x, want %x", e.key(), b)
		}
	})
}

// Expiry index keys sort by time, which Sweep relies on.
func TestExpiryKeyOrder(t *testing.T) {
	keys := [][]byte{
		expiryEnvKey(1, wire.MailboxID{0xff}, 1<<62),
		expiryBlobKey(2, wire.BlobID{}),
		expiryEnvKey(1<<40, wire.MailboxID{}, 0),
		expiryBlobKey(1<<62, wire.BlobID{0xff}),
	}
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(keys[i-1], keys[i]) >= 0 {
			t.Errorf("key %d sorts after key %d: %x >= %x", i-1, i, keys[i-1], keys[i])
		}
	}
}
