package messenger

import (
	"bytes"
	"errors"
	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/relay/embedded"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand; both profiles share one.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func createWith(t *testing.T, name, relay string, clock *fakeClock) (*Messenger, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	cfg := testConfig(dir, name, relay)
	if clock != nil {
		cfg.Now = clock.Now
	}
	cfg.ExpiryInterval = time.Hour // tests expire explicitly
	m, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, dir
}

func texts(t *testing.T, m *Messenger, contact string) []string {
	t.Helper()
	h, err := m.History(contact, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(h) - 1; i >= 0; i-- {
		out = append(out, h[i].Text)
	}
	return out
}

func TestDisappearingMessages(t *testing.T) {
	relay := startRelay(t)
	clock := &fakeClock{t: time.Now()}
	alice, _ := createWith(t, "Alice", relay, clock)
	bob, bobDir := createWith(t, "Bob", relay, clock)
	meet(t, alice, bob)

	// A per-message timer, on both sides, from the value inside the message.
	if _, err := alice.SendText(t.Context(), "Bob", "gone in a minute", SendOptions{Expire: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(t.Context(), "Bob", "stays", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, bob)
	if got := texts(t, bob, "Alice"); len(got) != 2 {
		t.Fatalf("Bob has %q, want both messages", got)
	}

	// A conversation timer set by Bob applies to Alice's messages too, and
	// both sides show who changed it.
	if _, err := bob.SetTimer(t.Context(), "Alice", 10*time.Minute, false); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, alice)
	ac, _ := alice.FindContact("Bob")
	if ac.Timer != 10*time.Minute {
		t.Fatalf("Alice's timer for Bob: got %v, want 10m", ac.Timer)
	}
	if got := texts(t, alice, "Bob"); got[len(got)-1] != "They set disappearing messages to 10m0s" {
		t.Fatalf("Alice's last entry: %q", got[len(got)-1])
	}
	if got := texts(t, bob, "Alice"); got[len(got)-1] != "You set disappearing messages to 10m0s" {
		t.Fatalf("Bob's last entry: %q", got[len(got)-1])
	}
	if _, err := alice.SendText(t.Context(), "Bob", "under the conversation timer", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	// Burn-on-read: hidden until shown, then counts down.
	burn, err := alice.SendText(t.Context(), "Bob", "burn after reading", SendOptions{Burn: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, bob)

	// Two minutes later: the one-minute message is gone on both sides.
	clock.Advance(2 * time.Minute)
	for _, m := range []*Messenger{alice, bob} {
		if err := m.ExpireNow(); err != nil {
			t.Fatal(err)
		}
	}
	for _, side := range []struct {
		m    *Messenger
		peer string
	}{{alice, "Bob"}, {bob, "Alice"}} {
		for _, s := range texts(t, side.m, side.peer) {
			if s == "gone in a minute" {
				t.Errorf("%s still shows the expired message", side.m.Pseudonym())
			}
		}
	}
	// The burn-on-read message waits, unexpired, until Bob is shown it.
	if got := texts(t, bob, "Alice"); !contains(got, "burn after reading") {
		t.Fatalf("Bob lost the unread burn-on-read message: %q", got)
	}
	if _, err := bob.MarkShown("Alice", burn.ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(31 * time.Second)
	if err := bob.ExpireNow(); err != nil {
		t.Fatal(err)
	}
	if got := texts(t, bob, "Alice"); contains(got, "burn after reading") {
		t.Fatalf("burn-on-read message still there 31 s after showing: %q", got)
	}

	// Expiry after time offline: Bob closes; eleven minutes pass; on
	// opening, before anything is shown, the timed messages are gone.
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(11 * time.Minute)
	cfg := testConfig(bobDir, "", "")
	cfg.Now = clock.Now
	bob2, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bob2.Close()
	got := texts(t, bob2, "Alice")
	want := []string{"stays"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Bob after 11 min offline: got %q, want %q (the timer notice expires too)", got, want)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A new identity on a contact's mailbox is a request: nothing of the
// conversation changes (identity, safety number, verified flag, sending)
// until the user accepts it.
func TestIdentityChangeIsARequestUntilAccepted(t *testing.T) {
	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bob", relay)
	meet(t, alice, bob)
	before, err := alice.SafetyNumber("Bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SetVerified("Bob", true); err != nil {
		t.Fatal(err)
	}
	if err := bob.ResetIdentity(t.Context()); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, alice)
	c, _ := alice.FindContact("Bob")
	if !c.KeyChanged || !c.Verified || c.RequestPseudonym != "Bob" {
		t.Fatalf("after Bob's new identity: KeyChanged=%v Verified=%v RequestPseudonym=%q, want true, true, Bob", c.KeyChanged, c.Verified, c.RequestPseudonym)
	}
	if _, err := alice.SendText(t.Context(), "Bob", "to the known identity", SendOptions{}); err != nil {
		t.Fatalf("sending while a request waits: %v", err)
	}
	if now, err := alice.SafetyNumber("Bob"); err != nil || now.String() != before.String() {
		t.Fatalf("the safety number changed before the request was accepted (%v)", err)
	}
	after, err := alice.RequestSafetyNumber("Bob")
	if err != nil {
		t.Fatal(err)
	}
	if after.String() == before.String() {
		t.Fatal("the request's safety number is the old identity's")
	}
	if c, err := alice.AcceptKeyChange("Bob"); err != nil || c.KeyChanged || c.Verified {
		t.Fatalf("accepting: %+v, %v", c, err)
	}
	if now, _ := alice.SafetyNumber("Bob"); now.String() != after.String() {
		t.Fatal("after accepting, the safety number is not the request's")
	}
	if _, err := alice.RequestSafetyNumber("Bob"); !errors.Is(err, ErrNoRequest) {
		t.Fatalf("request safety number after accepting: got %v, want ErrNoRequest", err)
	}
	if _, err := alice.SendText(t.Context(), "Bob", "accepted", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, bob)
	if got := texts(t, bob, "Alice"); got[len(got)-1] != "accepted" {
		t.Fatalf("Bob's last message after the accepted key change: %q", got)
	}
	sb, err := bob.SafetyNumber("Alice")
	if err != nil {
		t.Fatal(err)
	}
	if sa, _ := alice.SafetyNumber("Bob"); sa.String() != sb.String() {
		t.Fatal("safety numbers differ after the key change")
	}
}

func TestRelayMoveKeepsTheConversation(t *testing.T) {
	relay1, relay2 := startRelay(t), startRelay(t)
	alice, _ := create(t, "Alice", relay1)
	bob, _ := create(t, "Bob", relay1)
	meet(t, alice, bob)
	if err := alice.MoveRelay(t.Context(), relay2); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, bob)
	c, _ := bob.FindContact("Alice")
	if c.Relay != relay2 {
		t.Fatalf("Bob sends to Alice at %s, want %s", c.Relay, relay2)
	}
	if _, err := bob.SendText(t.Context(), "Alice", "after the move", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, alice)
	if got := texts(t, alice, "Bob"); got[len(got)-1] != "after the move" {
		t.Fatalf("Alice's messages after the move: %q", got)
	}
}

func TestExportImportRestoresTheConversation(t *testing.T) {
	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bob", relay)
	meet(t, alice, bob)
	if _, err := bob.SendText(t.Context(), "Alice", "before the backup", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, alice)
	backup := filepath.Join(t.TempDir(), "alice.backup")
	if err := alice.ExportBackup(backup, []byte("backup pass")); err != nil {
		t.Fatal(err)
	}
	alice.Close()
	newDir := filepath.Join(t.TempDir(), "new-machine")
	if err := ImportBackup(backup, []byte("wrong"), newDir, true); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong backup passphrase: got %v", err)
	}
	if err := ImportBackup(backup, []byte("backup pass"), newDir, true); err != nil {
		t.Fatal(err)
	}
	alice2, err := Open(testConfig(newDir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer alice2.Close()
	if got := texts(t, alice2, "Bob"); !contains(got, "before the backup") {
		t.Fatalf("imported history: %q", got)
	}
	// The conversation goes on from the new folder.
	if _, err := bob.SendText(t.Context(), "Alice", "after the import", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, alice2)
	if got := texts(t, alice2, "Bob"); got[len(got)-1] != "after the import" {
		t.Fatalf("after import: %q", got)
	}
}

func TestForgedPreviewIsDropped(t *testing.T) {
	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bob", relay)
	meet(t, alice, bob)
	body := "look at https://example.org/page"
	good := Preview{URL: "https://example.org/page", Title: "Example page"}
	forged := Preview{URL: "https://evil.example/login", Title: "Your bank"}
	if _, err := alice.SendText(t.Context(), "Bob", body, SendOptions{Previews: []Preview{good, forged}}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, bob)
	h, err := bob.History("Alice", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(h[0].Previews) != 1 || h[0].Previews[0].URL != good.URL || h[0].Previews[0].Title != "Example page" {
		t.Fatalf("Bob's previews: %+v, want only the matching one", h[0].Previews)
	}
}

// TestNoPlaintextOnDisk scans the relay's files and both profile folders
// for every message, pseudonym and file content of a session.
func TestNoPlaintextOnDisk(t *testing.T) {
	relayDir := t.TempDir()
	r, err := startRelayIn(t, relayDir)
	if err != nil {
		t.Fatal(err)
	}
	alice, aliceDir := create(t, "Zyxwvutsrqp", r)
	bob, bobDir := create(t, "Qwertzuiopa", r)
	meet(t, alice, bob)
	secrets := []string{"Zyxwvutsrqp", "Qwertzuiopa", "the eagle lands at midnight", "attachment-content-7731"}
	if _, err := alice.SendText(t.Context(), "Qwertzuiopa", secrets[2], SendOptions{}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "notes.bin")
	if err := os.WriteFile(file, bytes.Repeat([]byte(secrets[3]), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := alice.SendFile(t.Context(), "Qwertzuiopa", file, FileOptions{AsIs: true}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, bob, alice, bob)
	h, err := bob.History("Zyxwvutsrqp", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].File == nil || !h[0].File.Have {
		t.Fatalf("Bob's history: %+v, want the text and the downloaded file", h)
	}
	alice.Close()
	bob.Close()
	for _, dir := range []string{relayDir, aliceDir, bobDir} {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s holds %q in the clear", path, s)
				}
			}
			return nil
		})
	}
}

func TestFileAboveTheRelayLimitIsRefused(t *testing.T) {
	limits := relay.DefaultLimits()
	limits.MaxBlob = 1 << 20
	r, err := embedded.Start(t.Context(), embedded.Options{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Limits: &limits})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	alice, _ := create(t, "Alice", r.URL())
	bob, _ := create(t, "Bob", r.URL())
	meet(t, alice, bob)
	big := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(big, make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := alice.SendFile(t.Context(), "Bob", big, FileOptions{AsIs: true}); !errors.Is(err, ErrFileTooLarge) {
		t.Fatalf("a 2 MiB file to a relay taking 1 MiB: got %v, want ErrFileTooLarge", err)
	}
	// Nothing is left queued or in the transfer folder.
	if h, _ := alice.History("Bob", 0, 10); len(h) != 0 {
		t.Fatalf("history after a refused file: %+v", h)
	}
}
