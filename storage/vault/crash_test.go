package vault

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const crashEnv = "EPHEMERA_VAULT_CRASH_DIR"

// crashWriter is the child process of TestCrash: it adds messages in a
// loop, fsync on, printing each sequence number once AddMessage returned.
func crashWriter(dir string) {
	v, err := Open(dir, testPass, Options{InsecureTestKDF: true})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	for {
		err := v.Update(func(t *Tx) error {
			m, err := t.AddMessage(Message{Conversation: "c", Body: []byte("pending")})
			if err != nil {
				return err
			}
			// The body names the message's own seq, checked after the crash.
			return t.PutSession("c", []byte(strconv.FormatUint(m.Seq, 10)))
		})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		seq, _ := v.LastSeq("c")
		fmt.Println(seq)
	}
}

// TestCrash kills a writer with SIGKILL at random moments (including
// while it opens the vault) and checks after each kill that the vault
// opens and holds every write the writer saw succeed.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashWriter(dir)
		return
	}
	dir := t.TempDir()
	v, err := Create(dir, testPass, Options{InsecureTestKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	var acked uint64
	for round := range 12 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wait := time.Duration(rng.IntN(400)) * time.Millisecond
		timer := time.AfterFunc(wait, func() { cmd.Process.Signal(syscall.SIGKILL) })
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				t.Fatalf("round %d: writer said %q", round, sc.Text())
			}
			acked = max(acked, n)
		}
		cmd.Wait()
		timer.Stop()

		v, err := Open(dir, testPass, Options{InsecureTestKDF: true})
		if err != nil {
			t.Fatalf("round %d (killed after %v): open: %v", round, wait, err)
		}
		last, err := v.LastSeq("c")
		if err != nil || last < acked {
			v.Close()
			t.Fatalf("round %d: last seq %d, %v; want at least %d acknowledged", round, last, err, acked)
		}
		for seq := uint64(1); seq <= last; seq++ {
			if _, err := v.Message("c", seq); err != nil {
				v.Close()
				t.Fatalf("round %d: message %d of %d: %v", round, seq, last, err)
			}
		}
		// The session was written in the same transaction as the last
		// message: they are never out of step.
		s, err := v.Session("c")
		if last > 0 && (err != nil || string(s) != strconv.FormatUint(last, 10)) {
			v.Close()
			t.Fatalf("round %d: session %q, %v, want %d", round, s, err, last)
		}
		v.Close()
		t.Logf("round %d: killed after %v, %d messages, %d acknowledged", round, wait, last, acked)
	}
	if acked == 0 {
		t.Fatal("no write was acknowledged in any round")
	}
}
