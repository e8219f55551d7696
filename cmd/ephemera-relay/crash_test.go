package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/internal/loadtest"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Crash test parameters: about a minute of killing on a two-core machine.
const (
	crashClients  = 12
	crashCycles   = 24
	crashMinUp    = 100 * time.Millisecond // relay lifetime after /healthz answers
	crashMaxUp    = 1500 * time.Millisecond
	crashMaxSeqs  = 200000 // per client; bounds the senders
	crashDrainFor = 90 * time.Second
)

// TestCrashSafety kills the real relay binary with SIGKILL at random
// moments while clients send and receive, restarts it on the same data
// directory and port, and checks that every envelope the relay answered
// Sent for is delivered in the end, intact. Duplicates are allowed (delivery
// is at least once) and reported. The clients are net/relayclient's, which
// reconnect on their own; senders resend an envelope whose Send failed,
// as the app's outbox does. Set EPHEMERA_CRASH_SEED to replay a run's
// timing.
func TestCrashSafety(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("EPHEMERA_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("EPHEMERA_CRASH_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (EPHEMERA_CRASH_SEED=%d replays the kill timing)", seed, seed)
	rng := mrand.New(mrand.NewPCG(seed, 0x6570686d))

	bin := buildRelay(t)
	port := freePort(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	url := fmt.Sprintf("ws://127.0.0.1:%d/v1/ws", port)
	rp := &relayProc{t: t, bin: bin, data: dataDir, port: port}
	rp.start()
	defer rp.kill()

	var runID uint64
	{
		var b [8]byte
		rand.Read(b[:])
		runID = binary.BigEndian.Uint64(b[:])
	}
	base := time.Now()
	tr := loadtest.NewTracker(crashClients, crashMaxSeqs)
	var corrupt, stale, ackErrs atomic.Int64

	type peer struct {
		c  *relayclient.Client
		mb loadtest.Mailbox
	}
	peers := make([]*peer, crashClients)
	for i := range peers {
		p := &peer{mb: loadtest.NewMailbox()}
		c, err := relayclient.New(relayclient.Config{
			URL:        url,
			MinBackoff: 20 * time.Millisecond,
			MaxBackoff: 300 * time.Millisecond,
			// Pings make a dead connection show quickly; SIGKILL
			// closes sockets anyway, so this is a second line.
			PingInterval: 2 * time.Second,
			DialTimeout:  5 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		p.c = c
		c.Start()
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = c.Register(ctx, relayclient.Mailbox{ID: p.mb.ID, Key: p.mb.Key, SendTokenHash: p.mb.TokenHash})
		cancel()
		if err != nil {
			t.Fatalf("client %d: register: %v", i, err)
		}
		peers[i] = p
	}

	// Receivers: check and record what has arrived, and acknowledge it in
	// one Ack, as the app does. A failed Ack only means a redelivery.
	var recvWG sync.WaitGroup
	for i, p := range peers {
		recvWG.Add(1)
		go func() {
			defer recvWG.Done()
			var seqs []uint64
			handle := func(d relayclient.Delivery) {
				pl, err := loadtest.ParsePayload(d.Envelope)
				switch {
				case err != nil:
					if corrupt.Add(1) <= 5 {
						t.Errorf("client %d: corrupt envelope seq %d: %v", i, d.Seq, err)
					}
				case pl.Run != runID:
					stale.Add(1)
				default:
					tr.Delivered(uint32(i), pl, time.Since(base))
				}
				seqs = append(seqs, d.Seq)
			}
			ch := p.c.Deliveries()
			for d := range ch {
				seqs = seqs[:0]
				handle(d)
			drain:
				for len(seqs) < wire.MaxAckCount {
					select {
					case d, ok := <-ch:
						if !ok {
							break drain
						}
						handle(d)
					default:
						break drain
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if err := p.c.Ack(ctx, p.mb.ID, seqs...); err != nil {
					ackErrs.Add(1)
				}
				cancel()
			}
		}()
	}

	// However the test ends, the receivers stop before it does.
	defer func() {
		for _, p := range peers {
			p.c.Close()
		}
		recvWG.Wait()
	}()

	// Senders: send continuously; an envelope whose Send failed is sent
	// again (same sender and sequence number) until the relay says Sent.
	stop := make(chan struct{})
	var sendWG sync.WaitGroup
	var sendErrs atomic.Int64
	for i, p := range peers {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			var buf []byte
			for k := 0; k < crashMaxSeqs; k++ {
				to := peers[loadtest.Dest(i, k, crashClients)]
				for {
					select {
					case <-stop:
						return
					default:
					}
					buf = loadtest.AppendPayload(buf[:0], loadtest.Payload{
						Run: runID, Sender: uint32(i), Receiver: uint32(loadtest.Dest(i, k, crashClients)),
						Seq: uint32(k), SentAt: int64(time.Since(base)),
					}, 200+k%700)
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
					_, err := p.c.Send(ctx, to.mb.ID, to.mb.Token, 0, buf)
					cancel()
					if err == nil {
						tr.Sent(uint32(i), uint32(k))
						break
					}
					sendErrs.Add(1)
					var werr *wire.Error
					if errors.As(err, &werr) && !werr.Code.Temporary() {
						t.Errorf("client %d: send %d refused: %v", i, k, err)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}

	var stopOnce sync.Once
	stopSenders := func() {
		stopOnce.Do(func() { close(stop) })
		sendWG.Wait()
	}
	defer stopSenders()

	start := time.Now()
	sentBefore := tr.SentCount()
	productive := 0
	for cycle := range crashCycles {
		up := crashMinUp + time.Duration(rng.Int64N(int64(crashMaxUp-crashMinUp)))
		time.Sleep(up)
		rp.kill()
		now := tr.SentCount()
		if now > sentBefore {
			productive++
		}
		t.Logf("cycle %2d: killed after %v; %d acknowledged so far (+%d)", cycle, up.Round(time.Millisecond), now, now-sentBefore)
		sentBefore = now
		rp.start()
	}
	stopSenders()
	t.Logf("%d kills in %v; %d envelopes acknowledged, %d send attempts failed",
		crashCycles, time.Since(start).Round(time.Second), tr.SentCount(), sendErrs.Load())

	// With the relay up, every acknowledged envelope must arrive.
	deadline := time.Now().Add(crashDrainFor)
	for tr.Outstanding() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range peers {
		p.c.Close()
	}
	recvWG.Wait()

	var r loadtest.Result
	tr.Fill(&r)
	t.Logf("sent %d, delivered %d (unique), lost %d, duplicates %d, corrupt %d, misrouted %d, stale %d, failed acks %d",
		r.Sent, r.Delivered, r.Lost, r.Duplicates, corrupt.Load(), r.Misrouted, stale.Load(), ackErrs.Load())
	if r.Lost > 0 {
		t.Errorf("%d acknowledged envelopes were never delivered (seed %d)", r.Lost, seed)
	}
	if corrupt.Load() > 0 || r.Misrouted > 0 {
		t.Errorf("%d corrupt and %d misrouted envelopes (seed %d)", corrupt.Load(), r.Misrouted, seed)
	}
	if r.Sent == 0 || productive < crashCycles/4 {
		t.Errorf("only %d of %d relay lifetimes acknowledged anything (%d in all): the test proved little",
			productive, crashCycles, r.Sent)
	}
	if t.Failed() {
		t.Logf("relay output (last run):\n%s", rp.output())
	}
}

// buildRelay builds this package's binary into a temporary directory.
func buildRelay(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ephemera-relay")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort finds a loopback port nobody listens on now. The relay gets it
// a moment later; another program taking it meanwhile is unlikely on a
// test machine, and shows as a start failure.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// relayProc is the relay binary run as a child process.
type relayProc struct {
	t    *testing.T
	bin  string
	data string
	port int
	args []string // more flags

	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
	out    *syncBuffer
}

// start runs the relay and waits, for a bounded time, until /healthz
// answers 200.
func (r *relayProc) start() {
	r.t.Helper()
	const startTimeout = 20 * time.Second
	deadline := time.Now().Add(startTimeout)
	for attempt := 1; ; attempt++ {
		r.out = &syncBuffer{}
		r.cmd = exec.Command(r.bin, append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", r.port), "--data", r.data}, r.args...)...)
		r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
		if err := r.cmd.Start(); err != nil {
			r.t.Fatalf("starting relay: %v", err)
		}
		exited := make(chan struct{})
		r.exited = exited
		go func(c *exec.Cmd) { c.Wait(); close(exited) }(r.cmd)
		if r.waitHealthy(deadline, exited) {
			return
		}
		select {
		case <-exited:
			// Exited early, e.g. the port still held: try again while time is left.
			if time.Now().Before(deadline) {
				r.t.Logf("relay exited at start (attempt %d):\n%s", attempt, r.out.String())
				time.Sleep(200 * time.Millisecond)
				continue
			}
		default:
		}
		r.kill()
		r.t.Fatalf("relay not healthy within %v:\n%s", startTimeout, r.out.String())
	}
}

func (r *relayProc) waitHealthy(deadline time.Time, exited <-chan struct{}) bool {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", r.port)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *relayProc) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.t.Errorf("relay pid %d still running 10s after SIGKILL", r.cmd.Process.Pid)
	}
	r.cmd = nil
}

func (r *relayProc) output() string {
	if r.out == nil {
		return ""
	}
	return r.out.String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // keep the start and bound the memory
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
