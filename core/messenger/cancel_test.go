package messenger

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/relay/embedded"
)

// An upload that cannot finish (the relay went away) is cancelled: its
// message fails, its record and ciphertext file go, and nothing retries.
func TestCancelTransferStopsUpload(t *testing.T) {
	r, err := embedded.Start(t.Context(), embedded.Options{DataDir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	alice, aliceDir := create(t, "alice", r.URL())
	bob, _ := create(t, "bob", r.URL())
	aSeesB, _ := meet(t, alice, bob)
	r.Close()

	src := filepath.Join(t.TempDir(), "report.txt")
	if err := os.WriteFile(src, []byte("quarterly figures, not for the relay"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := alice.Subscribe(0)
	defer sub.Close()
	msg, _, err := alice.SendFile(t.Context(), aSeesB.ID, src, FileOptions{AsIs: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.CancelTransfer(msg.ID); err != nil {
		t.Fatalf("CancelTransfer: %v", err)
	}
	deadline := time.After(10 * time.Second)
	for failed := false; !failed; {
		select {
		case e := <-sub.Events():
			if u, ok := e.(MessageUpdated); ok && u.Message.ID == msg.ID && u.Message.State == StateFailed {
				failed = true
			}
		case <-deadline:
			t.Fatal("no MessageUpdated with state failed after CancelTransfer")
		}
	}
	if err := alice.CancelTransfer(msg.ID); err == nil {
		t.Error("cancelling twice succeeded")
	}
	// The transfer loop lets go of the file; its ciphertext is removed.
	time.Sleep(200 * time.Millisecond)
	left, _ := filepath.Glob(filepath.Join(aliceDir, xferDir, "*"))
	for _, f := range left {
		t.Errorf("transfer file left behind: %s", f)
	}
	h, err := alice.History(aSeesB.ID, 0, 1)
	if err != nil || len(h) != 1 || h[0].State != StateFailed {
		t.Fatalf("history after cancel: %+v %v", h, err)
	}
}
