package stream

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"
)

var testKey = bytes.Repeat([]byte{0x42}, KeySize)

// plaintext returns n deterministic pseudo-random bytes.
func plaintext(n int, seed uint64) []byte {
	r := mrand.New(mrand.NewPCG(seed, uint64(n)))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func encrypt(t testing.TB, plain, key []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decrypt reads enc whole through a Reader.
func decrypt(enc, key []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(enc), key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// decryptAt reads enc whole through a ReaderAt.
func decryptAt(enc, key []byte) ([]byte, error) {
	r, err := NewReaderAt(bytes.NewReader(enc), int64(len(enc)), key)
	if err != nil {
		return nil, err
	}
	p := make([]byte, r.Size())
	n, err := r.ReadAt(p, 0)
	if err != nil && !(err == io.EOF && n == len(p)) {
		return nil, err
	}
	return p[:n], nil
}

var boundarySizes = []int{0, 1, 100, ChunkSize - 1, ChunkSize, ChunkSize + 1,
	2*ChunkSize - 1, 2 * ChunkSize, 2*ChunkSize + 1, 3<<20 + 12345, 4 << 20}

func TestRoundTrip(t *testing.T) {
	for _, size := range boundarySizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			plain := plaintext(size, 1)
			enc := encrypt(t, plain, testKey)
			if got, want := int64(len(enc)), EncryptedSize(int64(size)); got != want {
				t.Errorf("encrypted size: got %d, want %d", got, want)
			}
			got, err := decrypt(enc, testKey)
			if err != nil {
				t.Fatalf("Reader: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("Reader: plaintext differs")
			}
			got, err = decryptAt(enc, testKey)
			if err != nil {
				t.Fatalf("ReaderAt: %v", err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("ReaderAt: plaintext differs")
			}
		})
	}
}

// TestWriteSplits writes in pieces of awkward sizes and reads with small
// buffers, so chunk boundaries fall everywhere in both directions.
func TestWriteSplits(t *testing.T) {
	plain := plaintext(3*ChunkSize+77, 2)
	for _, piece := range []int{1, 7, 4096, ChunkSize - 1, ChunkSize, ChunkSize + 1} {
		t.Run(fmt.Sprint(piece), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, testKey)
			if err != nil {
				t.Fatal(err)
			}
			for p := plain; len(p) > 0; {
				k := min(piece, len(p))
				if n, err := w.Write(p[:k]); n != k || err != nil {
					t.Fatalf("Write: got %d, %v, want %d, nil", n, err, k)
				}
				p = p[k:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := NewReader(&buf, testKey)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			small := make([]byte, piece)
			for {
				n, err := r.Read(small)
				got = append(got, small[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, plain) {
				t.Fatal("plaintext differs")
			}
		})
	}
}

func TestWriterAfterClose(t *testing.T) {
	w, err := NewWriter(io.Discard, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close: got nil error")
	}
}

func TestBadKeySize(t *testing.T) {
	if _, err := NewWriter(io.Discard, make([]byte, 16)); err == nil {
		t.Error("NewWriter with a 16-byte key: got nil error")
	}
	enc := encrypt(t, nil, testKey)
	if _, err := NewReader(bytes.NewReader(enc), nil); err == nil {
		t.Error("NewReader with a nil key: got nil error")
	}
}

// checkFails asserts that both readers reject enc with an error wrapping
// one of wants, and that the Reader never returns plaintext beyond plain's
// prefix.
func checkFails(t *testing.T, name string, enc, key, plain []byte, wants ...error) {
	t.Helper()
	is := func(err error) bool {
		for _, w := range wants {
			if errors.Is(err, w) {
				return true
			}
		}
		return false
	}
	got, err := decrypt(enc, key)
	if err == nil || !is(err) {
		t.Errorf("%s: Reader: got error %v, want one of %v", name, err, wants)
	}
	if !bytes.HasPrefix(plain, got) {
		t.Errorf("%s: Reader returned %d bytes that are not a prefix of the plaintext", name, len(got))
	}
	if _, err := decryptAt(enc, key); err == nil || !is(err) {
		t.Errorf("%s: ReaderAt: got error %v, want one of %v", name, err, wants)
	}
}

func TestTruncation(t *testing.T) {
	for _, size := range []int{0, 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize} {
		plain := plaintext(size, 3)
		enc := encrypt(t, plain, testKey)
		cuts := []int{0, 1, HeaderSize - 1, HeaderSize, HeaderSize + 1, len(enc) - 1}
		for b := HeaderSize; b < len(enc); b += encChunkSize {
			cuts = append(cuts, b, b-1, b+1, b+tagSize, b+tagSize-1, b+encChunkSize/2)
		}
		for _, cut := range cuts {
			if cut < 0 || cut >= len(enc) {
				continue
			}
			checkFails(t, fmt.Sprintf("size %d cut at %d", size, cut), enc[:cut], testKey, plain,
				ErrTruncated, ErrAuth)
		}
	}
	// Cut exactly at a chunk boundary: reported as truncation.
	plain := plaintext(3*ChunkSize, 3)
	enc := encrypt(t, plain, testKey)
	for c := 1; c < 3; c++ {
		checkFails(t, fmt.Sprintf("cut after chunk %d", c), enc[:HeaderSize+c*encChunkSize], testKey, plain, ErrTruncated)
	}
}

func TestFlippedByte(t *testing.T) {
	plain := plaintext(2*ChunkSize+500, 4)
	enc := encrypt(t, plain, testKey)
	// Every header byte, and bytes spread through each chunk (every byte of
	// 200 KiB twice over both readers would be slow under -race).
	positions := []int{}
	for i := 0; i < HeaderSize; i++ {
		positions = append(positions, i)
	}
	for i := HeaderSize; i < len(enc); i += 997 {
		positions = append(positions, i)
	}
	for b := HeaderSize; b < len(enc); b += encChunkSize {
		positions = append(positions, b, b+encChunkSize-1)
	}
	positions = append(positions, len(enc)-1)
	for _, pos := range positions {
		if pos >= len(enc) {
			continue
		}
		bad := bytes.Clone(enc)
		bad[pos] ^= 0x01
		checkFails(t, fmt.Sprintf("flip at %d", pos), bad, testKey, plain, ErrAuth, ErrFormat)
	}
}

func TestSwappedChunks(t *testing.T) {
	plain := plaintext(3*ChunkSize+10, 5)
	enc := encrypt(t, plain, testKey)
	chunk := func(i int) []byte {
		s := HeaderSize + i*encChunkSize
		return enc[s:min(s+encChunkSize, len(enc))]
	}
	cat := func(idx ...int) []byte {
		out := bytes.Clone(enc[:HeaderSize])
		for _, i := range idx {
			out = append(out, chunk(i)...)
		}
		return out
	}
	for name, order := range map[string][]int{
		"swap 0 1":       {1, 0, 2, 3},
		"swap 1 2":       {0, 2, 1, 3},
		"duplicate 1":    {0, 1, 1, 3},
		"drop 1":         {0, 2, 3},
		"last moved":     {0, 1, 3},
		"repeat all":     {0, 1, 2, 0, 1, 2, 3},
		"full last gone": {0, 1, 2},
	} {
		checkFails(t, name, cat(order...), testKey, plain, ErrAuth, ErrTruncated, ErrFormat)
	}
	// Chunks spliced from another file under the same key (another nonce).
	other := encrypt(t, plain, testKey)
	spliced := bytes.Clone(enc)
	copy(spliced[HeaderSize+encChunkSize:], other[HeaderSize+encChunkSize:HeaderSize+2*encChunkSize])
	checkFails(t, "chunk from another file", spliced, testKey, plain, ErrAuth)
}

func TestAppended(t *testing.T) {
	for _, size := range []int{0, 10, ChunkSize, 2 * ChunkSize} {
		plain := plaintext(size, 6)
		enc := encrypt(t, plain, testKey)
		for _, extra := range [][]byte{{0}, make([]byte, tagSize), enc[HeaderSize:]} {
			bad := append(bytes.Clone(enc), extra...)
			// A ReaderAt sees only a size, which may look cut short.
			checkFails(t, fmt.Sprintf("size %d + %d bytes", size, len(extra)), bad, testKey, plain,
				ErrAuth, ErrFormat, ErrTruncated)
		}
	}
	// A full last chunk followed by more: the Reader reports trailing data.
	plain := plaintext(ChunkSize, 6)
	enc := encrypt(t, plain, testKey)
	bad := append(bytes.Clone(enc), make([]byte, 100)...)
	if _, err := decrypt(bad, testKey); !errors.Is(err, ErrFormat) {
		t.Errorf("full last chunk then data: got %v, want ErrFormat", err)
	}
}

func TestWrongKey(t *testing.T) {
	plain := plaintext(ChunkSize+1, 7)
	enc := encrypt(t, plain, testKey)
	other := make([]byte, KeySize)
	rand.Read(other)
	checkFails(t, "wrong key", enc, other, nil, ErrAuth)
}

func TestBadHeader(t *testing.T) {
	enc := encrypt(t, []byte("hi"), testKey)
	for name, mod := range map[string]func([]byte){
		"magic":   func(b []byte) { b[0] = 'X' },
		"version": func(b []byte) { b[len(magic)] = 2 },
	} {
		bad := bytes.Clone(enc)
		mod(bad)
		checkFails(t, name, bad, testKey, nil, ErrFormat)
	}
	checkFails(t, "not a stream", []byte("plain text, not encrypted at all, long enough"), testKey, nil, ErrFormat)
}

func TestReaderAtRandom(t *testing.T) {
	plain := plaintext(5*ChunkSize+333, 8)
	enc := encrypt(t, plain, testKey)
	r, err := NewReaderAt(bytes.NewReader(enc), int64(len(enc)), testKey)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(plain)) {
		t.Fatalf("Size: got %d, want %d", r.Size(), len(plain))
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	check := func(off, n int) {
		p := make([]byte, n)
		got, err := r.ReadAt(p, int64(off))
		wantN := max(0, min(n, len(plain)-off))
		if got != wantN {
			t.Fatalf("ReadAt(%d bytes, %d): got %d bytes, want %d", n, off, got, wantN)
		}
		if got < n && err != io.EOF {
			t.Fatalf("ReadAt(%d bytes, %d): short read with error %v, want io.EOF", n, off, err)
		}
		if got == n && err != nil {
			t.Fatalf("ReadAt(%d bytes, %d): full read with error %v", n, off, err)
		}
		if !bytes.Equal(p[:got], plain[off:off+got]) {
			t.Fatalf("ReadAt(%d bytes, %d): wrong bytes", n, off)
		}
	}
	for b := 0; b <= len(plain); b += ChunkSize {
		for _, d := range []int{-1, 0, 1} {
			if off := b + d; off >= 0 {
				check(off, 2)
				check(off, ChunkSize+2)
			}
		}
	}
	check(len(plain), 0)
	check(len(plain), 10)
	check(len(plain)-5, 10)
	for range 200 {
		off := rng.IntN(len(plain))
		check(off, rng.IntN(3*ChunkSize))
	}
	if _, err := r.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("negative offset: got nil error")
	}
}

// TestReaderAtTamperedMiddle checks that ReadAt authenticates the chunks it
// reads even though construction only authenticated the last one.
func TestReaderAtTamperedMiddle(t *testing.T) {
	plain := plaintext(3*ChunkSize, 9)
	enc := encrypt(t, plain, testKey)
	enc[HeaderSize+encChunkSize+10] ^= 0x80
	r, err := NewReaderAt(bytes.NewReader(enc), int64(len(enc)), testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 10), 0); err != nil {
		t.Errorf("chunk 0: %v", err)
	}
	if _, err := r.ReadAt(make([]byte, 10), ChunkSize+5); !errors.Is(err, ErrAuth) {
		t.Errorf("chunk 1: got %v, want ErrAuth", err)
	}
}

func TestEncryptedSize(t *testing.T) {
	for _, c := range []struct{ plain, want int64 }{
		{0, int64(HeaderSize) + tagSize},
		{1, int64(HeaderSize) + 1 + tagSize},
		{ChunkSize, int64(HeaderSize) + ChunkSize + tagSize},
		{ChunkSize + 1, int64(HeaderSize) + ChunkSize + 1 + 2*tagSize},
		{1 << 40, int64(HeaderSize) + 1<<40 + (1<<40/ChunkSize)*tagSize},
	} {
		if got := EncryptedSize(c.plain); got != c.want {
			t.Errorf("EncryptedSize(%d): got %d, want %d", c.plain, got, c.want)
		}
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	if _, err := NewWriter(&failWriter{0}, testKey); err == nil {
		t.Error("header write failure: got nil error")
	}
	w, err := NewWriter(&failWriter{1}, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, ChunkSize+1)); err == nil {
		t.Error("chunk write failure: got nil error")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failed write: got nil error")
	}
}

// TestFlipEveryByte flips a low and a high bit of every byte of small
// streams, in both readers.
func TestFlipEveryByte(t *testing.T) {
	for _, size := range []int{0, 1, 300} {
		plain := plaintext(size, 10)
		enc := encrypt(t, plain, testKey)
		for pos := range enc {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(enc)
				bad[pos] ^= bit
				checkFails(t, fmt.Sprintf("size %d flip %#x at %d", size, bit, pos), bad, testKey, plain,
					ErrAuth, ErrFormat)
			}
		}
	}
}

func TestReaderAtShortSource(t *testing.T) {
	enc := encrypt(t, plaintext(2*ChunkSize+5, 12), testKey)
	for _, size := range []int64{int64(len(enc)) + 1, int64(len(enc)) + encChunkSize} {
		_, err := NewReaderAt(bytes.NewReader(enc), size, testKey)
		if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrAuth) {
			t.Errorf("size %d of %d: got %v, want ErrTruncated or ErrAuth", size, len(enc), err)
		}
	}
}

func TestReaderAtConcurrent(t *testing.T) {
	plain := plaintext(4*ChunkSize+9, 13)
	enc := encrypt(t, plain, testKey)
	r, err := NewReaderAt(bytes.NewReader(enc), int64(len(enc)), testKey)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(g), 0))
			p := make([]byte, ChunkSize)
			for range 20 {
				off := rng.IntN(len(plain))
				n, _ := r.ReadAt(p, int64(off))
				if !bytes.Equal(p[:n], plain[off:off+n]) {
					t.Errorf("goroutine %d: ReadAt at %d: wrong bytes", g, off)
					return
				}
			}
		})
	}
	wg.Wait()
}
