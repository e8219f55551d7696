package messenger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// RelayLinkOptions configures a RelayLink.
type RelayLinkOptions struct {
	// RelayURL is the relay to use (wss://, or ws:// to a loopback
	// address). Empty starts a relay embedded in the process.
	RelayURL string
	// DataDir is where the messenger keeps its files; the embedded relay
	// stores its mailboxes under DataDir/relay. Required when RelayURL is
	// empty.
	DataDir string
	// Logger receives connection events. Nil discards them.
	Logger *slog.Logger
}

// RelayLink is a connection to one relay without a profile, which the desktop app shows until it has onboarding (a later change replaces it with Messenger). It is safe for
// concurrent use. Make one with New; the zero value is not usable.
type RelayLink struct {
	log      *slog.Logger
	relayURL string
	embedded io.Closer // the embedded relay, nil when using a remote one
	client   *relayclient.Client
	events   *dispatcher

	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error

	mu    sync.Mutex
	state ConnState
}

// New checks opts, starts the embedded relay when opts.RelayURL is empty,
// and returns a Messenger that connects once Start is called. RelayURL is
// known as soon as New returns.
func NewRelayLink(opts RelayLinkOptions) (*RelayLink, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &RelayLink{log: log}

	url := opts.RelayURL
	if url == "" {
		if opts.DataDir == "" {
			return nil, errors.New("messenger: Options.DataDir is required for the embedded relay")
		}
		r, u, err := startEmbedded(context.Background(), filepath.Join(opts.DataDir, "relay"), log)
		if err != nil {
			return nil, fmt.Errorf("messenger: start embedded relay: %w", err)
		}
		m.embedded, url = r, u
		log.Info("embedded relay started", "url", url)
	}
	client, err := m.newClient(url)
	if err != nil {
		if m.embedded != nil {
			m.embedded.Close()
		}
		return nil, fmt.Errorf("messenger: relay %q: %w", url, err)
	}
	m.client = client
	m.events = newDispatcher()
	return m, nil
}

func (m *RelayLink) newClient(url string) (*relayclient.Client, error) {
	url, err := wsconn.NormalizeURL(url)
	if err != nil {
		return nil, err
	}
	m.relayURL = url
	cfg := relayclient.Config{URL: url, OnState: m.onRelayState}
	// The messenger logs every state change itself; the client's own
	// lines, which repeat them with more detail, only in debug logs.
	if m.log.Enabled(context.Background(), slog.LevelDebug) {
		cfg.Logger = m.log.With("component", "relayclient")
	}
	return relayclient.New(cfg)
}

// OnEvent sets the function that receives the messenger's events. Set it
// before Start to see every event. Events come one at a time, in order, from
// a goroutine of the messenger's own (never the caller's), so a GUI must
// hand them to its UI goroutine. A slow handler delays later events but
// never the network. The handler must not call Close. Nil stops delivery.
func (m *RelayLink) OnEvent(f func(Event)) { m.events.setHandler(f) }

// Start connects to the relay in the background; the connection is kept up
// and re-established with backoff until Close. Calls after the first do
// nothing.
func (m *RelayLink) Start() {
	m.startOnce.Do(m.client.Start)
}

// Close disconnects, stops the embedded relay if there is one, delivers
// the events still pending (the last is ConnectionChanged{State:
// StateClosed}) and returns. It is idempotent.
func (m *RelayLink) Close() error {
	m.closeOnce.Do(func() {
		err := m.client.Close()
		if m.embedded != nil {
			err = errors.Join(err, m.embedded.Close())
		}
		m.events.close()
		m.closeErr = err
	})
	return m.closeErr
}

// RelayURL returns the URL of the relay the messenger uses, normalised
// (for the embedded relay, its loopback address).
func (m *RelayLink) RelayURL() string { return m.relayURL }

// State returns the relay connection's state now.
func (m *RelayLink) State() ConnState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// onRelayState runs on the relay client's goroutine: it must return quickly.
func (m *RelayLink) onRelayState(s relayclient.State, err error) {
	st := connState(s)
	m.mu.Lock()
	m.state = st
	m.mu.Unlock()
	if err != nil {
		m.log.Warn("relay connection", "state", st.String(), "url", m.relayURL, "err", err)
	} else {
		m.log.Info("relay connection", "state", st.String(), "url", m.relayURL)
	}
	m.events.post(ConnectionChanged{State: st, Err: err})
}
