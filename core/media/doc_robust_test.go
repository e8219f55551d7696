package media

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// mutate applies a few random byte edits, 32-bit overwrites with
// boundary values, cuts and deletions to a copy of in.
func mutate(rng *rand.Rand, in []byte) []byte {
	d := bytes.Clone(in)
	for k := 0; k < 1+rng.IntN(4) && len(d) > 0; k++ {
		i := rng.IntN(len(d))
		switch rng.IntN(5) {
		case 0:
			d[i] = byte(rng.IntN(256))
		case 1:
			d[i] ^= 1 << rng.IntN(8)
		case 2:
			if i+4 <= len(d) {
				v := []uint32{0, 1, 3, 0xffffffff, 0x7fffffff, 8, 16, uint32(rng.IntN(1 << 20))}[rng.IntN(8)]
				copy(d[i:], u32(v))
			}
		case 3:
			d = d[:i]
		case 4:
			if j := rng.IntN(len(d)); i < j {
				d = append(d[:i], d[j:]...)
			}
		}
	}
	return d
}

// TestContainerMutations: a deterministic complement to the fuzz
// targets, run on every test run. Mutated files either fail with one of
// the package's errors or sanitize to a file that sanitizes to itself.
func TestContainerMutations(t *testing.T) {
	seeds := map[string][]byte{
		"mp4": sampleMP4("isom"), "mov": sampleMP4("qt  "), "heic": sampleHEIF("heic", nonStandardICC()),
		"avif": sampleHEIF("avif", nil), "docx": buildDOCX(t, nil), "xlsx": buildXLSX(t), "pptx": buildPPTX(t),
		"odt": buildODF(t, ODT, nil, true), "pdf": samplePDF(t, plainJPEG(t)),
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for name, seed := range seeds {
		ok := 0
		for i := 0; i < 600; i++ {
			d := mutate(rng, seed)
			var out bytes.Buffer
			_, err := Sanitize(bytes.NewReader(d), int64(len(d)), &out)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
					t.Errorf("%s #%d: error wraps no sentinel: %v", name, i, err)
				}
				continue
			}
			ok++
			var again bytes.Buffer
			if _, err := Sanitize(bytes.NewReader(out.Bytes()), int64(out.Len()), &again); err != nil {
				t.Errorf("%s #%d: sanitized output does not sanitize: %v", name, i, err)
			} else if !bytes.Equal(again.Bytes(), out.Bytes()) {
				t.Errorf("%s #%d: not idempotent", name, i)
			}
		}
		if ok == 0 {
			t.Errorf("%s: no mutation sanitized; the test exercises nothing past the parsers", name)
		}
	}
}
