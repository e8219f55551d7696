package messenger

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log sink safe for the messenger's goroutines.
// wrote is signalled after every write.
type lockedBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The restore's retry loop logs why a renewal failed, without the
// contact's pseudonym.
func TestRestoreLogsNoPseudonym(t *testing.T) {
	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bobzilla", relay)
	meet(t, alice, bob)
	backup := filepath.Join(t.TempDir(), "alice.backup")
	if err := alice.ExportBackup(backup, []byte("backup pass")); err != nil {
		t.Fatal(err)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	// Bob's new keys on the relay make the renewal fail (and retry).
	if err := bob.ResetIdentity(t.Context()); err != nil {
		t.Fatal(err)
	}
	newDir := filepath.Join(t.TempDir(), "restored")
	if err := ImportBackup(backup, []byte("backup pass"), newDir, true); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{wrote: make(chan struct{}, 1)}
	cfg := testConfig(newDir, "", "")
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	alice2, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice2.Close() })
	deadline := time.After(time.Minute)
	for !strings.Contains(logs.String(), "renewing a restored session failed") {
		select {
		case <-logs.wrote:
		case <-deadline:
			t.Fatalf("no failed renewal logged:\n%s", logs.String())
		}
	}
	if strings.Contains(logs.String(), "Bobzilla") {
		t.Fatalf("the logs name the contact:\n%s", logs.String())
	}
}
