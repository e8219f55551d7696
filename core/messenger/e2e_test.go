package messenger

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/relay/embedded"
)

// startRelay runs a real relay on a loopback port with its data in a
// temporary folder.
func startRelay(t *testing.T) string {
	t.Helper()
	u, err := startRelayIn(t, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func startRelayIn(t testing.TB, dir string) (string, error) {
	r, err := embedded.Start(t.Context(), embedded.Options{DataDir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { r.Close() })
	return r.URL(), nil
}

var testPass = []byte("correct horse battery staple")

func testConfig(dir, name, relay string) Config {
	cfg := Config{Dir: dir, Passphrase: testPass, Pseudonym: name, RelayURL: relay, InsecureTestKDF: true, NoSync: true}
	if os.Getenv("EPHEMERA_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

func create(t *testing.T, name, relay string) (*Messenger, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	m, err := Create(testConfig(dir, name, relay))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, dir
}

func syncAll(t *testing.T, ms ...*Messenger) {
	t.Helper()
	for range 2 {
		for _, m := range ms {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			if err := m.Sync(ctx, 200*time.Millisecond); err != nil {
				cancel()
				t.Fatalf("%s: sync: %v", m.Pseudonym(), err)
			}
			cancel()
		}
	}
}

// meet makes a and b contacts through an invite of a's.
func meet(t *testing.T, a, b *Messenger) (aSeesB, bSeesA Contact) {
	t.Helper()
	inv, err := a.CreateInvite(t.Context(), InviteOptions{OneTime: true})
	if err != nil {
		t.Fatal(err)
	}
	bSeesA, err = b.AcceptInvite(t.Context(), inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	syncAll(t, b, a, b)
	aSeesB, err = a.FindContact(b.Pseudonym())
	if err != nil {
		t.Fatalf("%s does not know %s after the invite: %v", a.Pseudonym(), b.Pseudonym(), err)
	}
	bSeesA, err = b.FindContact(bSeesA.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bSeesA.Pending {
		t.Fatalf("%s: contact %s still pending after the answer", b.Pseudonym(), a.Pseudonym())
	}
	return aSeesB, bSeesA
}

func lastText(t *testing.T, m *Messenger, contact string) Message {
	t.Helper()
	h, err := m.History(contact, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) == 0 {
		t.Fatalf("%s: no messages with %s", m.Pseudonym(), contact)
	}
	return h[0]
}

func TestTwoProfilesTalkAndAThirdOnAnotherRelay(t *testing.T) {
	relay1, relay2 := startRelay(t), startRelay(t)
	alice, aliceDir := create(t, "Alice", relay1)
	bob, _ := create(t, "Bob", relay1)
	carol, _ := create(t, "Carol", relay2)

	aB, bA := meet(t, alice, bob)
	if _, err := bob.SendText(t.Context(), bA.ID, "hello Alice", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, alice, bob)
	if got := lastText(t, alice, aB.ID); got.Text != "hello Alice" || got.From != aB.ID || got.State != StateReceived {
		t.Fatalf("Alice got %+v, want Bob's hello", got)
	}
	if got := lastText(t, bob, bA.ID); got.State != StateDelivered {
		t.Fatalf("Bob's message state: got %s, want delivered", got.State)
	}
	if _, err := alice.SendText(t.Context(), "Bob", "hi Bob", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, bob)
	if got := lastText(t, bob, "Alice"); got.Text != "hi Bob" {
		t.Fatalf("Bob got %q, want %q", got.Text, "hi Bob")
	}

	// Carol lives on another relay.
	aC, cA := meet(t, alice, carol)
	if aC.Relay != relay2 || cA.Relay != relay1 {
		t.Fatalf("relays: Alice sees Carol on %s, Carol sees Alice on %s", aC.Relay, cA.Relay)
	}
	if _, err := carol.SendText(t.Context(), "Alice", "from the other relay", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol, alice)
	if got := lastText(t, alice, "Carol"); got.Text != "from the other relay" {
		t.Fatalf("Alice got %q from Carol", got.Text)
	}

	// Safety numbers agree.
	sa, err := alice.SafetyNumber("Bob")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := bob.SafetyNumber("Alice")
	if err != nil {
		t.Fatal(err)
	}
	if sa.String() != sb.String() {
		t.Fatalf("safety numbers differ")
	}

	// History survives lock and unlock; a wrong passphrase says so.
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(aliceDir, "", "")
	cfg.Passphrase = []byte("wrong")
	if _, err := Open(cfg); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: got %v", err)
	}
	alice2, err := Open(testConfig(aliceDir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer alice2.Close()
	h, err := alice2.History("Bob", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Text != "hi Bob" || h[1].Text != "hello Alice" {
		t.Fatalf("history after reopening: %+v", h)
	}
}
