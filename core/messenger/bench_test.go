package messenger

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/internal/procstat"
	"github.com/ephemera-im/ephemera/net/relayclient"
)

// benchPair makes two profiles that know each other, with fsync on (every
// message is stored durably in both vaults).
func benchPair(b *testing.B) (alice, bob *Messenger, relay string) {
	b.Helper()
	relay, err := startRelayIn(b, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	mk := func(name string) *Messenger {
		cfg := testConfig(filepath.Join(b.TempDir(), name), name, relay)
		cfg.NoSync = os.Getenv("EPHEMERA_BENCH_NOSYNC") == "1"
		m, err := Create(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close() })
		return m
	}
	alice, bob = mk("Alice"), mk("Bob")
	inv, err := alice.CreateInvite(context.Background(), InviteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bob.AcceptInvite(context.Background(), inv.Code); err != nil {
		b.Fatal(err)
	}
	for range 2 {
		for _, m := range []*Messenger{bob, alice} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := m.Sync(ctx, 200*time.Millisecond); err != nil {
				b.Fatal(err)
			}
			cancel()
		}
	}
	return alice, bob, relay
}

// senders is how many goroutines send at once in BenchmarkTextThroughput,
// like a bot or a busy group: concurrent sends share transactions.
const senders = 64

// BenchmarkTextThroughput: Alice sends b.N text messages from senders
// goroutines; the time runs until Bob has stored every one. Reports
// messages per second end to end.
func BenchmarkTextThroughput(b *testing.B) {
	alice, bob, _ := benchPair(b)
	sub := bob.Subscribe(1 << 16)
	defer sub.Close()
	contact, err := alice.FindContact("Bob")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := procstat.CPUTime()
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + senders - 1) / senders
	total := 0
	for g := range senders {
		n := min(per, b.N-g*per)
		if n <= 0 {
			break
		}
		total += n
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if _, err := alice.SendText(context.Background(), contact.ID, "message "+strconv.Itoa(i), SendOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	got := 0
	timeout := time.After(5 * time.Minute)
	for got < total {
		select {
		case e := <-sub.Events():
			switch e.(type) {
			case MessageAdded:
				got++
			case EventsDropped:
				b.Fatal("events dropped")
			}
		case <-timeout:
			b.Fatalf("Bob got %d of %d messages", got, total)
		}
	}
	wg.Wait()
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "msg/s")
	// Both clients and the relay run in this process: CPU per message,
	// which on a quiet 2-core machine bounds the rate at 2/cpu.
	b.ReportMetric(float64((procstat.CPUTime()-cpu0).Microseconds())/float64(total), "cpu-µs/msg")
}

// benchFileSize is the file size for BenchmarkFileTransfer; `make perf`
// sets EPHEMERA_BENCH_FILE_MIB=1024.
func benchFileSize() int64 {
	if s := os.Getenv("EPHEMERA_BENCH_FILE_MIB"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return int64(n) << 20
		}
	}
	return 64 << 20
}

// BenchmarkFileTransfer sends a file from Alice to Bob (sanitizer
// attempt, vault, transfer encryption, upload, download, hash check,
// decryption into Bob's vault) and, in the same run, copies the same
// bytes through the same relay's blob API without our encryption. The
// ratio is the target (at most 4).
func BenchmarkFileTransfer(b *testing.B) {
	size := benchFileSize()
	alice, bob, relay := benchPair(b)
	src := filepath.Join(b.TempDir(), "file.bin")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, mrand.NewChaCha8([32]byte{1}), size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	sub := bob.Subscribe(1 << 12)
	defer sub.Close()
	bob.prof.Settings.AutoDownloadLimit = size
	b.SetBytes(size)
	b.ResetTimer()
	var ours, raw time.Duration
	for range b.N {
		t0 := time.Now()
		msg, _, err := alice.SendFile(context.Background(), "Bob", src, FileOptions{AsIs: true})
		if err != nil {
			b.Fatal(err)
		}
		waitFile(b, sub, msg.ID)
		ours += time.Since(t0)

		t0 = time.Now()
		rawCopy(b, relay, src, size)
		raw += time.Since(t0)
	}
	b.ReportMetric(float64(size)*float64(b.N)/ours.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(size)*float64(b.N)/raw.Seconds()/1e6, "raw-MB/s")
	b.ReportMetric(ours.Seconds()/raw.Seconds(), "x-raw")
}

func waitFile(b *testing.B, sub *Subscription, id string) {
	b.Helper()
	timeout := time.After(10 * time.Minute)
	for {
		select {
		case e := <-sub.Events():
			if u, ok := e.(MessageUpdated); ok && u.Message.ID == id && u.Message.File != nil && u.Message.File.Have {
				return
			}
		case <-timeout:
			b.Fatal("the file did not arrive")
		}
	}
}

// rawCopy uploads src as a blob and downloads it again with the relay
// client alone: the baseline.
func rawCopy(b *testing.B, relay, src string, size int64) {
	b.Helper()
	c, err := relayclient.New(relayclient.Config{URL: relay})
	if err != nil {
		b.Fatal(err)
	}
	c.Start()
	defer c.Close()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var mb relayclient.Mailbox
	rand.Read(mb.ID[:])
	mb.Key = key
	ctx := context.Background()
	if err := c.Register(ctx, mb); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	id, err := c.UploadBlob(ctx, mb.ID, f, size, time.Hour, nil)
	if err != nil {
		b.Fatal(err)
	}
	out, err := os.Create(src + ".raw")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(src + ".raw")
	if _, err := c.DownloadBlob(ctx, id, out, 0, -1, nil); err != nil {
		b.Fatal(err)
	}
	if err := out.Sync(); err != nil {
		b.Fatal(err)
	}
	out.Close()
}
