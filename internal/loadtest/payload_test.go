package loadtest

import (
	"errors"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	p := Payload{Run: 0x0102030405060708, Sender: 7, Receiver: 9, Seq: 123456, SentAt: 987654321}
	// Sizes around the minimum and the filler's length.
	for _, size := range []int{0, MinPayloadSize - 1, MinPayloadSize, MinPayloadSize + 1, 1024,
		len(padding) + MinPayloadSize - 1, len(padding) + MinPayloadSize, 3*len(padding) + 5} {
		b := AppendPayload(nil, p, size)
		if want := max(size, MinPayloadSize); len(b) != want {
			t.Errorf("size %d: got %d bytes, want %d", size, len(b), want)
		}
		got, err := ParsePayload(b)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if got != p {
			t.Errorf("size %d: got %+v, want %+v", size, got, p)
		}
	}
}

func TestPayloadAppendsToPrefix(t *testing.T) {
	prefix := []byte("prefix")
	b := AppendPayload(prefix, Payload{Seq: 1}, 100)
	if string(b[:len(prefix)]) != "prefix" {
		t.Fatalf("prefix overwritten")
	}
	if _, err := ParsePayload(b[len(prefix):]); err != nil {
		t.Fatal(err)
	}
}

func TestPayloadDetectsCorruption(t *testing.T) {
	b := AppendPayload(nil, Payload{Run: 1, Sender: 2, Receiver: 3, Seq: 4, SentAt: 5}, 300)
	for i := range b {
		for _, bit := range []byte{0x01, 0x80} {
			c := append([]byte(nil), b...)
			c[i] ^= bit
			if _, err := ParsePayload(c); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flipping bit %#x of byte %d: got %v, want ErrCorrupt", bit, i, err)
			}
		}
	}
	for _, n := range []int{0, 1, MinPayloadSize - 1, len(b) - 1} {
		if _, err := ParsePayload(b[:n]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated to %d: got %v, want ErrCorrupt", n, err)
		}
	}
	if _, err := ParsePayload(append(append([]byte(nil), b...), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("extended by one byte: got %v, want ErrCorrupt", err)
	}
}

func TestPayloadsDiffer(t *testing.T) {
	a := AppendPayload(nil, Payload{Sender: 1, Seq: 1}, 1024)
	b := AppendPayload(nil, Payload{Sender: 1, Seq: 2}, 1024)
	if string(a[headerLen:]) == string(b[headerLen:]) {
		t.Error("two messages share their filler and checksum")
	}
}

func BenchmarkAppendPayload(b *testing.B) {
	b.SetBytes(1024)
	buf := make([]byte, 0, 1024)
	for i := range b.N {
		buf = AppendPayload(buf[:0], Payload{Seq: uint32(i)}, 1024)
	}
}

func BenchmarkParsePayload(b *testing.B) {
	buf := AppendPayload(nil, Payload{Seq: 1}, 1024)
	b.SetBytes(1024)
	for range b.N {
		if _, err := ParsePayload(buf); err != nil {
			b.Fatal(err)
		}
	}
}
