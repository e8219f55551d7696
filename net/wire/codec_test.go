package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wire/internal/vectors"
)

func TestRoundTrip(t *testing.T) {
	seen := map[wire.Type]bool{}
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			seen[tc.msg.Type()] = true
			frame := wire.Encode(tc.id, tc.msg)
			if len(frame) > wire.MaxFrameSize {
				t.Fatalf("frame is %d bytes, above MaxFrameSize", len(frame))
			}
			if frame[0] != wire.Version || wire.Type(frame[1]) != tc.msg.Type() || binary.BigEndian.Uint32(frame[2:6]) != tc.id {
				t.Fatalf("header % x, want version 1, type %v, id %d", frame[:6], tc.msg.Type(), tc.id)
			}
			id, got, err := wire.Decode(frame)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if id != tc.id {
				t.Errorf("id: got %d, want %d", id, tc.id)
			}
			if !equalMessages(got, tc.msg) {
				t.Errorf("got %#v, want %#v", got, tc.msg)
			}
			if again := wire.Encode(id, got); !bytes.Equal(again, frame) {
				t.Errorf("re-encoding differs")
			}
			// AppendFrame appends after existing bytes.
			prefix := []byte("prefix")
			if app := wire.AppendFrame(prefix, tc.id, tc.msg); !bytes.Equal(app[:6], prefix) || !bytes.Equal(app[6:], frame) {
				t.Errorf("AppendFrame did not append the frame")
			}
		})
	}
	for _, m := range vectors.AllTypes() {
		if !seen[m.Type()] {
			t.Errorf("no round-trip case for %v", m.Type())
		}
	}
}

// TestDecodeDoesNotAlias checks that decoded byte fields are copies.
func TestDecodeDoesNotAlias(t *testing.T) {
	for _, tc := range roundTripCases() {
		if tc.big {
			continue
		}
		frame := wire.Encode(tc.id, tc.msg)
		orig := bytes.Clone(frame)
		_, m, err := wire.Decode(frame)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for i := range frame {
			frame[i] ^= 0xff
		}
		if got := wire.Encode(tc.id, m); !bytes.Equal(got, orig) {
			t.Errorf("%s: decoded message changed when the input was overwritten", tc.name)
		}
	}
}

func TestTruncated(t *testing.T) {
	for _, tc := range roundTripCases() {
		if tc.big {
			continue
		}
		frame := wire.Encode(tc.id, tc.msg)
		for n := 0; n < len(frame); n++ {
			_, m, err := wire.Decode(frame[:n])
			if err == nil {
				t.Fatalf("%s: Decode of the first %d of %d bytes gave %#v, want an error", tc.name, n, len(frame), m)
			}
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("%s: cut at %d: error %v does not wrap ErrMalformed", tc.name, n, err)
			}
			if m != nil {
				t.Fatalf("%s: cut at %d: message %#v returned with an error", tc.name, n, m)
			}
		}
	}
}

func TestTrailingBytes(t *testing.T) {
	for _, tc := range roundTripCases() {
		if tc.big {
			continue
		}
		for _, extra := range [][]byte{{0}, {1}, {0, 0, 0, 0}} {
			frame := append(wire.Encode(tc.id, tc.msg), extra...)
			_, _, err := wire.Decode(frame)
			if err == nil || !strings.Contains(err.Error(), "trailing") {
				t.Errorf("%s + % x: got %v, want a trailing bytes error", tc.name, extra, err)
			}
		}
	}
}

func TestUnknownTypes(t *testing.T) {
	known := map[wire.Type]bool{}
	for _, m := range vectors.AllTypes() {
		known[m.Type()] = true
	}
	for i := 0; i < 256; i++ {
		typ := wire.Type(i)
		// A bare header is a complete frame for the bodiless types and a
		// truncated one for the rest; only unknown types say "unknown".
		_, _, err := wire.Decode([]byte{wire.Version, byte(i), 0, 0, 0, 1})
		isUnknown := err != nil && strings.Contains(err.Error(), "unknown frame type")
		if isUnknown == known[typ] {
			t.Errorf("type 0x%02x: known=%v, Decode error %v", i, known[typ], err)
		}
		if !known[typ] && typ.String() != "Type(0x"+hex2(i)+")" {
			t.Errorf("type 0x%02x: String() = %q", i, typ.String())
		}
		if !known[typ] && typ.IsRequest() {
			t.Errorf("unknown type 0x%02x is a request", i)
		}
	}
}

func hex2(i int) string {
	return strings.ToLower(string("0123456789abcdef"[i>>4]) + string("0123456789abcdef"[i&15]))
}

func TestTypeClasses(t *testing.T) {
	// Requests are what clients send; the relay sends the rest.
	requests := map[wire.Type]bool{
		wire.TypePing: true, wire.TypeRegister: true, wire.TypeAuth: true, wire.TypeSend: true,
		wire.TypeAck: true, wire.TypePutPrekeys: true, wire.TypeClaimPrekey: true,
		wire.TypeBlobCreate: true, wire.TypeBlobPut: true, wire.TypeBlobStat: true, wire.TypeBlobGet: true,
	}
	names := map[string]bool{}
	for _, m := range vectors.AllTypes() {
		typ := m.Type()
		if got := typ.IsRequest(); got != requests[typ] {
			t.Errorf("%v.IsRequest() = %v, want %v", typ, got, requests[typ])
		}
		if names[typ.String()] || strings.HasPrefix(typ.String(), "Type(") {
			t.Errorf("%v: name missing or repeated", typ)
		}
		names[typ.String()] = true
	}
}

func TestBadVersion(t *testing.T) {
	for v := 0; v < 256; v++ {
		if v == wire.Version {
			continue
		}
		_, _, err := wire.Decode([]byte{byte(v), byte(wire.TypePing), 0, 0, 0, 1})
		if err == nil || !errors.Is(err, wire.ErrMalformed) || !strings.Contains(err.Error(), "version") {
			t.Errorf("version %d: got %v, want a version error", v, err)
		}
	}
}

func TestBooleans(t *testing.T) {
	frames := map[string]func(b byte) []byte{
		"PutPrekeys.Replace": func(b byte) []byte {
			f := wire.Encode(6, &wire.PutPrekeys{Mailbox: mailboxID(1)})
			f[wire.HeaderSize+32] = b
			return f
		},
		"Prekey.LastResort": func(b byte) []byte {
			f := wire.Encode(7, &wire.Prekey{})
			f[len(f)-1] = b
			return f
		},
	}
	for name, frame := range frames {
		for b := 0; b < 256; b++ {
			_, m, err := wire.Decode(frame(byte(b)))
			switch {
			case b <= 1 && err != nil:
				t.Errorf("%s = %d: %v", name, b, err)
			case b <= 1:
				var got bool
				switch m := m.(type) {
				case *wire.PutPrekeys:
					got = m.Replace
				case *wire.Prekey:
					got = m.LastResort
				}
				if got != (b == 1) {
					t.Errorf("%s = %d decoded as %v", name, b, got)
				}
			case err == nil || !strings.Contains(err.Error(), "want 0 or 1"):
				t.Errorf("%s = %d: got %v, want a boolean error", name, b, err)
			}
		}
	}
}

func TestFrameSizeLimit(t *testing.T) {
	// The largest frames the encoding allows stay under MaxFrameSize.
	for _, tc := range roundTripCases() {
		if n := len(wire.Encode(tc.id, tc.msg)); n > wire.MaxFrameSize {
			t.Errorf("%s: %d bytes, above MaxFrameSize", tc.name, n)
		}
	}
	big := make([]byte, wire.MaxFrameSize+1)
	copy(big, wire.Encode(1, &wire.Send{}))
	if _, _, err := wire.Decode(big); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("frame of MaxFrameSize+1 bytes: got %v, want a size error", err)
	}
	// A frame of exactly MaxFrameSize is parsed (and here refused for its
	// trailing zeros, not its size).
	_, _, err := wire.Decode(big[:wire.MaxFrameSize])
	if err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("frame of MaxFrameSize bytes: got %v, want a trailing bytes error", err)
	}
}

// TestLimits sweeps every limited field at limit-1, limit and limit+1.
// Encode does not check limits, so it builds the over-limit frames.
func TestLimits(t *testing.T) {
	mb, blob := mailboxID(0x30), blobID(0x50)
	type limited struct {
		name  string
		limit int
		build func(n int) wire.Message
		big   bool
	}
	cases := []limited{
		{"Send.Envelope", wire.MaxEnvelopeSize, func(n int) wire.Message { return &wire.Send{Mailbox: mb, Envelope: make([]byte, n)} }, true},
		{"Deliver.Envelope", wire.MaxEnvelopeSize, func(n int) wire.Message { return &wire.Deliver{Mailbox: mb, Envelope: make([]byte, n)} }, true},
		{"BlobPut.Data", wire.MaxChunkSize, func(n int) wire.Message { return &wire.BlobPut{Mailbox: mb, Blob: blob, Data: make([]byte, n)} }, true},
		{"BlobData.Data", wire.MaxChunkSize, func(n int) wire.Message { return &wire.BlobData{Data: make([]byte, n)} }, true},
		{"BlobGet.Length", wire.MaxChunkSize, func(n int) wire.Message { return &wire.BlobGet{Blob: blob, Length: uint32(n)} }, false},
		{"PutPrekeys.Bundle", wire.MaxPrekeySize, func(n int) wire.Message { return &wire.PutPrekeys{Mailbox: mb, Bundle: make([]byte, n)} }, false},
		{"PutPrekeys.LastResort", wire.MaxPrekeySize, func(n int) wire.Message { return &wire.PutPrekeys{Mailbox: mb, LastResort: make([]byte, n)} }, false},
		{"PutPrekeys.OneTime[i]", wire.MaxPrekeySize, func(n int) wire.Message {
			return &wire.PutPrekeys{Mailbox: mb, OneTime: [][]byte{nil, make([]byte, n)}}
		}, false},
		{"PutPrekeys.OneTime count", wire.MaxPrekeyCount, func(n int) wire.Message { return &wire.PutPrekeys{Mailbox: mb, OneTime: prekeyList(n, 1)} }, false},
		{"Prekey.Bundle", wire.MaxPrekeySize, func(n int) wire.Message { return &wire.Prekey{Bundle: make([]byte, n)} }, false},
		{"Prekey.Key", wire.MaxPrekeySize, func(n int) wire.Message { return &wire.Prekey{Key: make([]byte, n)} }, false},
		{"Ack.Seqs count", wire.MaxAckCount, func(n int) wire.Message { return &wire.Ack{Mailbox: mb, Seqs: seqList(n)} }, false},
		{"Error.Message", wire.MaxErrorMessage, func(n int) wire.Message {
			return &wire.Error{Code: 1, Message: strings.Repeat("é", n/2) + strings.Repeat("x", n%2)}
		}, false},
	}
	for _, c := range cases {
		if c.big && testing.Short() {
			continue
		}
		for _, n := range []int{c.limit - 1, c.limit, c.limit + 1} {
			m := c.build(n)
			frame := wire.Encode(9, m)
			_, got, err := wire.Decode(frame)
			if n <= c.limit {
				if err != nil {
					t.Errorf("%s of %d (limit %d): %v", c.name, n, c.limit, err)
				} else if !equalMessages(got, m) {
					t.Errorf("%s of %d: round trip changed the message", c.name, n)
				}
				continue
			}
			if err == nil || !errors.Is(err, wire.ErrMalformed) || !strings.Contains(err.Error(), "limit") {
				t.Errorf("%s of %d (limit %d): got %v, want a limit error", c.name, n, c.limit, err)
			}
			if !c.big {
				// The limit is checked before the bytes are looked for:
				// a frame cut right after the over-limit length is still
				// a limit error, not a truncation.
				continue
			}
			cut := frame[:len(frame)-n]
			if _, _, err := wire.Decode(cut); err == nil || !strings.Contains(err.Error(), "limit") {
				t.Errorf("%s of %d without its bytes: got %v, want a limit error", c.name, n, err)
			}
		}
	}
}

// TestHugeCounts checks that a count field cannot make Decode allocate
// more than the input can fill.
func TestHugeCounts(t *testing.T) {
	mb := mailboxID(0)
	ack := wire.Encode(1, &wire.Ack{Mailbox: mb})
	binary.BigEndian.PutUint16(ack[len(ack)-2:], wire.MaxAckCount)
	prekeys := wire.Encode(1, &wire.PutPrekeys{Mailbox: mb})
	binary.BigEndian.PutUint16(prekeys[len(prekeys)-2:], wire.MaxPrekeyCount)
	for name, frame := range map[string][]byte{"Ack": ack, "PutPrekeys": prekeys} {
		const runs = 100
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			if _, _, err := wire.Decode(frame); err == nil || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("%s with a count and no items: got %v, want truncated", name, err)
			}
		}
		runtime.ReadMemStats(&after)
		// An error and its message, never the list (12 KiB for 500 keys,
		// 32 KiB for 4096 sequence numbers).
		if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 2048 {
			t.Errorf("%s: %d bytes allocated decoding an empty list with a large count", name, perRun)
		}
	}
}
