//go:build linux

package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/internal/loadtest"
)

// TestNonReadersBounded is the attack of subscribers that never read,
// scaled for `make test` (the full size is in scripts/perf.sh, figures in
// docs/PERFORMANCE.md): 4 mailboxes each holding 16 envelopes of 256 KiB,
// 200 connections authenticated for them that read nothing, against the
// relay binary with its default limits, in a child process whose resident
// memory is read from /proc. Unbounded, each connection would hold its
// mailbox's 4 MiB (800 MiB in all); the relay admits 8 connections per
// mailbox and holds at most 8 MiB of frames per mailbox, so its peak stays
// far below. A canary client on a mailbox of its own gets every message
// meanwhile; its latency is logged, not asserted.
func TestNonReadersBounded(t *testing.T) {
	const (
		conns, mailboxes, envelopes, size = 200, 4, 16, 256 << 10
		perMailbox                        = 8       // default MaxConnsPerMailbox
		mailboxBytes                      = 8 << 20 // default DeliverMailboxBytes
		rssBound                          = 192 << 20
	)
	rp := &relayProc{t: t, bin: buildRelay(t), data: t.TempDir(), port: freePort(t)}
	rp.start()
	defer rp.kill()
	pid := rp.cmd.Process.Pid
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	res, err := loadtest.Hoard(ctx, loadtest.HoardConfig{
		URL:        fmt.Sprintf("ws://127.0.0.1:%d/v1/ws", rp.port),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", rp.port),
		Conns:      conns, Mailboxes: mailboxes, Envelopes: envelopes, Size: size, Canary: 10,
		Dialers: 16,
		RSS:     func() (int64, error) { return loadtest.ProcRSS(pid, "VmRSS") },
		Logf:    t.Logf,
	})
	hwm, herr := loadtest.ProcRSS(pid, "VmHWM")
	if herr != nil {
		t.Fatal(herr)
	}
	t.Logf("%d non-reading connections on %d mailboxes of %d x %d KiB: %d subscribed, %d refused; relay RSS %d MiB before, peak %d MiB (VmHWM %d MiB); delivery buffer peak %.1f MiB; canary %d/%d, latency p50 %.1f ms, max %.1f ms",
		conns, mailboxes, envelopes, size>>10, res.Subscribed, res.Refused, res.RSSBefore>>20, res.RSSPeak>>20, hwm>>20,
		res.BufferedPeak/(1<<20), res.CanaryGot, res.CanarySent, res.CanaryP50Ms, res.CanaryMaxMs)
	if err != nil || res.Errors > 0 {
		t.Fatalf("run failed: %v (%d errors, first: %s)\n%s", err, res.Errors, res.FirstErrorMsg, rp.output())
	}
	if res.CanaryGot != res.CanarySent || res.CanarySent != 10 {
		t.Errorf("canary: got %d of %d messages, want 10 of 10", res.CanaryGot, res.CanarySent)
	}
	if res.Subscribed > mailboxes*perMailbox || res.Subscribed < mailboxes || res.Subscribed+res.Refused != conns {
		t.Errorf("subscribed %d, refused %d: want at most %d per mailbox admitted and the rest refused rate-limited",
			res.Subscribed, res.Refused, perMailbox)
	}
	if res.BufferedPeak > mailboxes*mailboxBytes {
		t.Errorf("delivery_buffered_bytes reached %.0f, above %d mailboxes x %d", res.BufferedPeak, mailboxes, mailboxBytes)
	}
	if hwm > rssBound {
		t.Errorf("relay peak RSS %d MiB, want under %d MiB", hwm>>20, rssBound>>20)
	}
}
