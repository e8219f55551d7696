package media

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the container and document sanitizers. Large inputs are
// files on disk read through *os.File, as the application does, so the
// peak-heap figure shows what streaming keeps in memory.
//
//	go test -run '^$' -bench 'Container' -benchtime 3x ./core/media/

// peakHeap samples the live heap while fn runs and returns its peak
// above the level before.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// writeLargeMP4 writes a movie whose mdat holds n pseudo-random bytes in
// one sample, with user data and a telemetry-free video track.
func writeLargeMP4(b *testing.B, n int64) string {
	p := filepath.Join(b.TempDir(), "large.mp4")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	avc1 := mbox("avc1", make([]byte, 6), u16(1), make([]byte, 16), u16(16, 16), u32(0x480000, 0x480000, 0), u16(1), make([]byte, 32), u16(24, 0xffff))
	build := func(off uint32) []byte {
		return mbox("moov",
			mbox("mvhd", u32(0, mp4Date2019, mp4Date2019, 1000, 1, 0x10000), u16(0x100), make([]byte, 10), unityMatrix, make([]byte, 24), u32(2)),
			mp4Trak(1, "vide", "VideoHandler", mbox("vmhd", u32(1), make([]byte, 8)), sampleTables(avc1, []uint32{uint32(n)}, off)),
			mbox("udta", mbox("\xa9xyz", u16(18, 0), []byte("+52.5200+013.4000/"))))
	}
	ftyp := mbox("ftyp", []byte("isom"), u32(0x200), []byte("isomiso2avc1mp41"))
	moov := build(uint32(len(ftyp) + len(build(0)) + 8))
	f.Write(ftyp)
	f.Write(moov)
	f.Write(u32(uint32(n + 8)))
	f.Write([]byte("mdat"))
	rng := rand.NewChaCha8([32]byte{1})
	if _, err := io.CopyN(f, rng, n); err != nil {
		b.Fatal(err)
	}
	return p
}

func benchFile(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	var peak uint64
	b.ResetTimer()
	for b.Loop() {
		p := peakHeap(func() {
			if _, err := Sanitize(f, st.Size(), io.Discard); err != nil {
				b.Fatal(err)
			}
		})
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

func BenchmarkContainerMP4_256MiB(b *testing.B) {
	benchFile(b, writeLargeMP4(b, 256<<20))
}

// BenchmarkContainerDOCX_64MiB: a document with 16 stored and 16
// deflated 2 MiB media files that are not images (kept as they are) and
// its properties.
func BenchmarkContainerDOCX_64MiB(b *testing.B) {
	rng := rand.NewChaCha8([32]byte{2})
	var media []ctZipEntry
	for i := 0; i < 32; i++ {
		d := make([]byte, 2<<20)
		rng.Read(d)
		media = append(media, ctZipEntry{name: fmt.Sprintf("word/media/blob%d.bin", i), data: string(d), stored: i%2 == 0})
	}
	p := filepath.Join(b.TempDir(), "large.docx")
	if err := os.WriteFile(p, buildDOCX(b, media), 0o600); err != nil {
		b.Fatal(err)
	}
	benchFile(b, p)
}

// BenchmarkContainerPDF_200Pages: a PDF of 200 pages, each with its own
// content stream and a small JPEG image.
func BenchmarkContainerPDF_200Pages(b *testing.B) {
	img := plainJPEG(b)
	objs := []string{"<</Type/Catalog/Pages 2 0 R>>", ""}
	var kids bytes.Buffer
	for i := 0; i < 200; i++ {
		page := len(objs) + 1
		fmt.Fprintf(&kids, "%d 0 R ", page)
		objs = append(objs,
			fmt.Sprintf("<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents %d 0 R/Resources<</XObject<</Im1 %d 0 R>>>>>>", page+1, page+2),
			pdfStream("", bytes.Repeat([]byte("q 100 0 0 100 50 50 cm /Im1 Do Q\n"), 200)),
			pdfStream("/Type/XObject/Subtype/Image/Width 8/Height 8/ColorSpace/DeviceGray/BitsPerComponent 8/Filter/DCTDecode", img))
	}
	objs[1] = fmt.Sprintf("<</Type/Pages/Kids[%s]/Count 200>>", kids.String())
	objs = append(objs, "<</Author(A)/Producer(P)>>")
	p := filepath.Join(b.TempDir(), "pages.pdf")
	if err := os.WriteFile(p, buildPDF(objs, fmt.Sprintf("/Info %d 0 R", len(objs))), 0o600); err != nil {
		b.Fatal(err)
	}
	benchFile(b, p)
}

// BenchmarkContainerHEIC: the sample HEIF file with a 3 MiB primary
// image, about the size of a phone photo.
func BenchmarkContainerHEIC(b *testing.B) {
	in := sampleHEIF("heic", nonStandardICC())
	big := bytes.Replace(in, []byte(heifPrimaryData), bytes.Repeat([]byte{0x55}, len(heifPrimaryData)), 1)
	// Grow the mdat: append data after the items (no item refers to it).
	pad := make([]byte, 3<<20)
	big = append(big, pad...)
	mdat := bytes.LastIndex(big[:len(in)], []byte("mdat")) - 4
	size := be32(big, mdat) + uint32(len(pad))
	copy(big[mdat:], u32(size))
	p := filepath.Join(b.TempDir(), "photo.heic")
	if err := os.WriteFile(p, big, 0o600); err != nil {
		b.Fatal(err)
	}
	benchFile(b, p)
}
