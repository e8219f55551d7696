package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wire/internal/vectors"
)

// addVectorSeeds adds every test vector's frame and every small round-trip
// case to the corpus.
func addVectorSeeds(f *testing.F) {
	vs, err := vectors.Load(vectorDir)
	if err != nil {
		f.Fatal(err)
	}
	if len(vs) == 0 {
		f.Fatalf("no vectors in %s", vectorDir)
	}
	for _, v := range vs {
		b, err := v.FrameBytes()
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 4096 {
			f.Add(b)
		}
	}
	for _, tc := range roundTripCases() {
		if !tc.big {
			f.Add(wire.Encode(tc.id, tc.msg))
		}
	}
}

// FuzzDecode checks that Decode never panics and that the encoding is
// canonical: whatever Decode accepts, Encode gives back byte for byte.
func FuzzDecode(f *testing.F) {
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		id, m, err := wire.Decode(in)
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if m != nil || id != 0 {
				t.Fatalf("error %v came with id %d, message %#v", err, id, m)
			}
			return
		}
		// The message must not alias the input.
		for i := range in {
			in[i] ^= 0x5a
		}
		if got := wire.Encode(id, m); !bytes.Equal(got, orig) {
			t.Fatalf("not canonical:\n  in %x\n out %x", orig, got)
		}
		if wire.Type(orig[1]) != m.Type() {
			t.Fatalf("type byte 0x%02x decoded as %v", orig[1], m.Type())
		}
	})
}

// FuzzRoundTrip builds a frame of every type from fuzzed field values
// within the encoding's limits, and checks that it decodes to the same
// message under the same id.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(0), uint32(0), []byte{}, []byte{}, []byte{}, uint64(0), uint64(0), uint32(0), false)
	for i := range len(vectors.AllTypes()) {
		f.Add(uint8(i), uint32(i+1), fill(64, byte(i)), fill(i*3, 1), fill(i*8, 2), uint64(i)<<40, ^uint64(i), uint32(i)<<20, i%2 == 0)
	}
	types := vectors.AllTypes()
	f.Fuzz(func(t *testing.T, kind uint8, id uint32, k, b1, b2 []byte, u1, u2 uint64, u3 uint32, flag bool) {
		m := buildMessage(types[int(kind)%len(types)].Type(), k, b1, b2, u1, u2, u3, flag)
		frame := wire.Encode(id, m)
		if len(frame) > wire.MaxFrameSize {
			t.Fatalf("%v frame of %d bytes", m.Type(), len(frame))
		}
		gotID, got, err := wire.Decode(frame)
		if err != nil {
			t.Fatalf("%v: Decode(Encode(m)): %v", m.Type(), err)
		}
		if gotID != id {
			t.Fatalf("id: got %d, want %d", gotID, id)
		}
		if !equalMessages(got, m) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
		}
	})
}

// buildMessage makes a message of type typ from fuzzed values: k fills the
// fixed-size fields, b1 and b2 the variable ones (cut to their limits), the
// integers and flag the rest.
func buildMessage(typ wire.Type, k, b1, b2 []byte, u1, u2 uint64, u3 uint32, flag bool) wire.Message {
	k32 := func(off int) (out [32]byte) {
		if off < len(k) {
			copy(out[:], k[off:])
		}
		return
	}
	var sig wire.Signature
	copy(sig[:], k)
	cut := func(b []byte, max int) []byte {
		if len(b) > max {
			return b[:max]
		}
		return b
	}
	// b2 split at zero bytes gives a list of byte strings.
	var list [][]byte
	if len(b2) > 0 {
		list = bytes.Split(b2, []byte{0})
		if len(list) > wire.MaxPrekeyCount {
			list = list[:wire.MaxPrekeyCount]
		}
		for i := range list {
			list[i] = cut(list[i], wire.MaxPrekeySize)
		}
	}
	var seqs []uint64
	for p := b2; len(p) >= 8 && len(seqs) < wire.MaxAckCount; p = p[8:] {
		seqs = append(seqs, binary.BigEndian.Uint64(p))
	}
	mb, key1, key2 := wire.MailboxID(k32(0)), wire.Key32(k32(32)), wire.Key32(k32(64))
	blob := wire.BlobID(k32(96))
	switch typ {
	case wire.TypeServerHello:
		return &wire.ServerHello{Relay: key1, Challenge: key2, MaxEnvelope: uint32(u1), DefaultTTL: uint32(u1 >> 32), MaxTTL: u3, MaxBlob: u2, MaxChunk: ^u3}
	case wire.TypePing:
		return &wire.Ping{}
	case wire.TypePong:
		return &wire.Pong{}
	case wire.TypeRegister:
		return &wire.Register{Mailbox: mb, OwnerKey: key1, SendTokenHash: key2, Signature: sig}
	case wire.TypeAuth:
		return &wire.Auth{Mailbox: mb, Signature: sig}
	case wire.TypeSend:
		return &wire.Send{Mailbox: mb, SendToken: key1, TTL: u3, Envelope: cut(b1, wire.MaxEnvelopeSize)}
	case wire.TypeAck:
		return &wire.Ack{Mailbox: mb, Seqs: seqs}
	case wire.TypePutPrekeys:
		return &wire.PutPrekeys{Mailbox: mb, Replace: flag, Bundle: cut(b1, wire.MaxPrekeySize), LastResort: cut(k, wire.MaxPrekeySize), OneTime: list}
	case wire.TypeClaimPrekey:
		return &wire.ClaimPrekey{Mailbox: mb}
	case wire.TypeBlobCreate:
		return &wire.BlobCreate{Mailbox: mb, Size: u1, TTL: u3}
	case wire.TypeBlobPut:
		return &wire.BlobPut{Mailbox: mb, Blob: blob, Offset: u1, Data: cut(b1, wire.MaxChunkSize)}
	case wire.TypeBlobStat:
		return &wire.BlobStat{Blob: blob}
	case wire.TypeBlobGet:
		return &wire.BlobGet{Blob: blob, Offset: u1, Length: u3 % (wire.MaxChunkSize + 1)}
	case wire.TypeOK:
		return &wire.OK{}
	case wire.TypeError:
		return &wire.Error{Code: wire.ErrorCode(u3), Message: string(cut(b1, wire.MaxErrorMessage))}
	case wire.TypeSent:
		return &wire.Sent{Seq: u1}
	case wire.TypePrekeysStored:
		return &wire.PrekeysStored{Remaining: u3}
	case wire.TypePrekey:
		return &wire.Prekey{Bundle: cut(b1, wire.MaxPrekeySize), Key: cut(b2, wire.MaxPrekeySize), LastResort: flag}
	case wire.TypeBlobCreated:
		return &wire.BlobCreated{Blob: blob}
	case wire.TypeBlobStatus:
		return &wire.BlobStatus{Size: u1, Have: u2, Expires: uint64(u3)}
	case wire.TypeBlobData:
		return &wire.BlobData{Offset: u2, Data: cut(b1, wire.MaxChunkSize)}
	case wire.TypeDeliver:
		return &wire.Deliver{Mailbox: mb, Seq: u1, Received: u2, Envelope: cut(b1, wire.MaxEnvelopeSize)}
	}
	panic("no builder for " + typ.String())
}
