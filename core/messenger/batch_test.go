package messenger

import (
	"bytes"
	"testing"

	"github.com/ephemera-im/ephemera/core/envelope"
)

func TestBatchRoundTrip(t *testing.T) {
	parts := [][]byte{[]byte("\x01Mfirst"), []byte("\x01Msecond"), {1}}
	got, err := splitBatch(packBatch(parts))
	if err != nil || len(got) != 3 || !bytes.Equal(got[1], parts[1]) {
		t.Fatalf("got %q, %v", got, err)
	}
	// A bare ratchet message is its own single part.
	if got, err := splitBatch([]byte("\x01Mbare")); err != nil || len(got) != 1 || string(got[0]) != "\x01Mbare" {
		t.Fatalf("bare: got %q, %v", got, err)
	}
	for name, bad := range map[string][]byte{
		"no count":    {batchMagic0, batchMagic1},
		"zero count":  {batchMagic0, batchMagic1, 0, 0},
		"short":       {batchMagic0, batchMagic1, 0, 1, 0, 0, 0, 9, 1},
		"empty part":  {batchMagic0, batchMagic1, 0, 1, 0, 0, 0, 0},
		"trailing":    append(packBatch([][]byte{{1}, {2}}), 0),
		"huge length": {batchMagic0, batchMagic1, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF},
	} {
		if _, err := splitBatch(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzSplitBatch: splitting never panics, and a batch that splits into
// several parts packs back to the same bytes (the format is canonical).
func FuzzSplitBatch(f *testing.F) {
	f.Add(packBatch([][]byte{[]byte("\x01Ma"), []byte("\x01Mbc")}))
	f.Add([]byte("\x01Mbare"))
	f.Add([]byte{batchMagic0, batchMagic1, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := splitBatch(b)
		if err != nil {
			return
		}
		if len(parts) == 1 && !bytes.Equal(parts[0], b) && !bytes.Equal(packBatch(parts), b) {
			t.Fatalf("one part %q from %q", parts[0], b)
		}
		if len(parts) > 1 && !bytes.Equal(packBatch(parts), b) {
			t.Fatalf("repacked %q, want %q", packBatch(parts), b)
		}
		total := 0
		for _, p := range parts {
			total += len(p)
		}
		if total > len(b) {
			t.Fatalf("parts hold %d bytes of a %d-byte input", total, len(b))
		}
	})
}

// payloadLimit keeps every packed envelope within the relay's announced
// max_envelope, at the bucket boundaries.
func TestPayloadLimit(t *testing.T) {
	for _, tc := range []struct{ maxEnv, want int }{
		{envelope.MaxSize, envelope.MaxPayload},
		{envelope.MaxSize + 1, envelope.MaxPayload},
		{envelope.MaxSize - 1, 128<<10 - 1},
		{128<<10 + envelope.Overhead, 128<<10 - 1},
		{128<<10 + envelope.Overhead - 1, 64<<10 - 1},
		{envelope.MinSize, 255},
		{envelope.MinSize - 1, 0},
	} {
		got := payloadLimit(tc.maxEnv)
		if got != tc.want {
			t.Errorf("max_envelope %d: got %d, want %d", tc.maxEnv, got, tc.want)
		}
		if got > 0 {
			if n, _ := envelope.SealedSize(got); n > tc.maxEnv {
				t.Errorf("max_envelope %d: a payload of %d seals to %d bytes", tc.maxEnv, got, n)
			}
		}
	}
}
