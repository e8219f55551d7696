package messenger

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/wsconn"
)

// events collects a messenger's events on a channel.
func events(t *testing.T, m *RelayLink) <-chan Event {
	t.Helper()
	ch := make(chan Event, 100)
	m.OnEvent(func(e Event) { ch <- e })
	return ch
}

// waitState waits for a ConnectionChanged to want and returns it.
func waitState(t *testing.T, ch <-chan Event, want ConnState) ConnectionChanged {
	t.Helper()
	timeout := time.After(20 * time.Second)
	var seen []string
	for {
		select {
		case e := <-ch:
			cc, ok := e.(ConnectionChanged)
			if !ok {
				t.Fatalf("got event %T, want ConnectionChanged", e)
			}
			if cc.State == want {
				return cc
			}
			seen = append(seen, cc.State.String())
		case <-timeout:
			t.Fatalf("no %v state within 20s; saw %v", want, seen)
		}
	}
}

// freeLoopbackURL returns a ws:// URL on which nothing listens.
func freeLoopbackURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "ws://" + addr
}

func TestUnreachableRelayReportsDisconnectedWithError(t *testing.T) {
	m, err := NewRelayLink(RelayLinkOptions{RelayURL: freeLoopbackURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	ch := events(t, m)
	m.Start()
	waitState(t, ch, StateConnecting)
	cc := waitState(t, ch, StateDisconnected)
	if cc.Err == nil {
		t.Error("Disconnected event has no error, want the dial failure")
	}
	if got := m.State(); got != StateDisconnected && got != StateConnecting {
		t.Errorf("State() = %v, want disconnected or connecting", got)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitState(t, ch, StateClosed)
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRelayURLIsNormalised(t *testing.T) {
	m, err := NewRelayLink(RelayLinkOptions{RelayURL: "ws://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got, want := m.RelayURL(), "ws://127.0.0.1:1"+wsconn.Path; got != want {
		t.Errorf("RelayURL() = %q, want %q", got, want)
	}
}

func TestPlainWebSocketToRemoteHostIsRefused(t *testing.T) {
	_, err := NewRelayLink(RelayLinkOptions{RelayURL: "ws://relay.example.org"})
	if !errors.Is(err, wsconn.ErrInsecureURL) {
		t.Errorf("New with ws:// to a remote host: got %v, want ErrInsecureURL", err)
	}
}

func TestEmbeddedRelayNeedsDataDir(t *testing.T) {
	if _, err := NewRelayLink(RelayLinkOptions{}); err == nil {
		t.Error("New without RelayURL or DataDir succeeded, want an error")
	}
}

func TestEmbeddedRelayConnects(t *testing.T) {
	m, err := NewRelayLink(RelayLinkOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if url := m.RelayURL(); !strings.HasPrefix(url, "ws://127.0.0.1:") {
		t.Errorf("RelayURL() = %q, want ws://127.0.0.1:…", url)
	}
	ch := events(t, m)
	m.Start()
	if cc := waitState(t, ch, StateConnected); cc.Err != nil {
		t.Errorf("Connected with error %v", cc.Err)
	}
	if got := m.State(); got != StateConnected {
		t.Errorf("State() = %v, want connected", got)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitState(t, ch, StateClosed)
}

// Two messengers on one machine: the second embedded relay cannot have the
// default port and must take another.
func TestSecondEmbeddedRelayTakesAnotherPort(t *testing.T) {
	a, err := NewRelayLink(RelayLinkOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewRelayLink(RelayLinkOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.RelayURL() == b.RelayURL() {
		t.Errorf("both embedded relays at %s", a.RelayURL())
	}
	ch := events(t, b)
	b.Start()
	waitState(t, ch, StateConnected)
}
