package messenger

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The crash tests run the messenger in a child process (this test binary
// again, see TestMain) that SIGKILLs itself at a chosen point, then check
// in the parent that every message is shown exactly once.

func TestMain(m *testing.M) {
	if role := os.Getenv("EPHEMERA_CRASH_ROLE"); role != "" {
		os.Exit(crashChild(role))
	}
	os.Exit(m.Run())
}

// armed makes the hooks kill: for the sending roles only once the
// child's own message is stored, so the crash hits that message.
var armed atomic.Bool

func killSelf() {
	if armed.Load() {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Kill() // SIGKILL on Unix, TerminateProcess on Windows
		}
	}
}

// crashChild opens the profile in $EPHEMERA_CRASH_DIR and dies at the
// point named by role.
func crashChild(role string) int {
	cfg := testConfig(os.Getenv("EPHEMERA_CRASH_DIR"), "", "")
	switch role {
	case "send-after-store":
		testHookQueued = killSelf
	case "send-after-relay-ack":
		testHookSent = killSelf
	case "recv-before-ack":
		testHookReceived = killSelf
		armed.Store(true)
	}
	m, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if text := os.Getenv("EPHEMERA_CRASH_SEND"); text != "" {
		if role == "send-after-store" {
			armed.Store(true)
		}
		if _, err := m.SendText(ctx, os.Getenv("EPHEMERA_CRASH_TO"), text, SendOptions{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		armed.Store(true)
	}
	m.Sync(ctx, 300*time.Millisecond)
	fmt.Fprintln(os.Stderr, "the child was not killed")
	return 4
}

func runCrashChild(t *testing.T, role, dir, to, text string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EPHEMERA_CRASH_ROLE="+role, "EPHEMERA_CRASH_DIR="+dir,
		"EPHEMERA_CRASH_TO="+to, "EPHEMERA_CRASH_SEND="+text)
	out, err := cmd.CombinedOutput()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s: the child was not killed: %v\n%s", role, err, out)
	}
}

func reopen(t *testing.T, dir string) *Messenger {
	t.Helper()
	m, err := Open(testConfig(dir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func countText(t *testing.T, m *Messenger, contact, text string) int {
	t.Helper()
	n := 0
	for _, s := range texts(t, m, contact) {
		if s == text {
			n++
		}
	}
	return n
}

func TestCrashesLoseAndDuplicateNothing(t *testing.T) {
	relay := startRelay(t)
	alice, aliceDir := create(t, "Alice", relay)
	bob, bobDir := create(t, "Bob", relay)
	meet(t, alice, bob)
	alice.Close()
	bob.Close()

	// The sender dies after storing a message, before sending it, and
	// after the relay took one, before noting it.
	runCrashChild(t, "send-after-store", aliceDir, "Bob", "stored, then killed")
	runCrashChild(t, "send-after-relay-ack", aliceDir, "Bob", "sent, then killed")
	// The receiver dies after storing what it got, before acknowledging.
	runCrashChild(t, "recv-before-ack", bobDir, "", "")

	alice = reopen(t, aliceDir)
	bob = reopen(t, bobDir)
	syncAll(t, alice, bob, alice)
	for _, text := range []string{"stored, then killed", "sent, then killed"} {
		if n := countText(t, bob, "Alice", text); n != 1 {
			t.Errorf("Bob shows %q %d times, want once", text, n)
		}
		if n := countText(t, alice, "Bob", text); n != 1 {
			t.Errorf("Alice shows %q %d times, want once", text, n)
		}
	}
	h, err := alice.History("Bob", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h {
		if m.State != StateDelivered {
			t.Errorf("Alice's %q is %s, want delivered", m.Text, m.State)
		}
	}
}
