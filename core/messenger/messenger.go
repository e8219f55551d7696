package messenger

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/proxy"

	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/net/relay/embedded"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// Errors returned by the messenger; test with errors.Is.
var (
	ErrWrongPassphrase = vault.ErrWrongPassphrase
	// ErrDamaged: a file of the profile's vault is missing, truncated,
	// overwritten or another profile's; the error names it, and nothing
	// was changed (restore the file from a backup).
	ErrDamaged        = vault.ErrDamaged
	ErrNoProfile      = errors.New("messenger: no profile in this folder")
	ErrProfileExists  = errors.New("messenger: a profile already exists in this folder")
	ErrUnknownContact = errors.New("messenger: unknown contact")
	ErrAmbiguous      = errors.New("messenger: more than one contact has that name")
	ErrBadInvite      = errors.New("messenger: bad invite")
	ErrBlocked        = errors.New("messenger: contact is blocked")
	ErrKeyChanged     = errors.New("messenger: another identity asked to take over this conversation; accept or decline it first")
	ErrNoRequest      = errors.New("messenger: no other identity asked to take over this conversation")
	// ErrInviteUsed: a one-time invite that someone already accepted.
	ErrInviteUsed = errors.New("messenger: this one-time invite was already used; ask for a new one")
	// ErrInviteRefused: the inviter refused our acceptance of its invite
	// (Contact.Refused says why); nothing can be sent.
	ErrInviteRefused  = errors.New("messenger: the inviter refused this invite's use (already used or expired); ask for a new one")
	ErrNotAnswered    = errors.New("messenger: the contact has not answered the invite yet")
	ErrUnknownMessage = errors.New("messenger: unknown message")
	ErrClosed         = errors.New("messenger: closed")
	ErrFileTooLarge   = errors.New("messenger: file too large for the relay")
	// ErrResetPending: after a restore from a backup, the session with
	// the contact is being replaced (in the background, as soon as their
	// relay answers); nothing can be sent to them until it is.
	ErrResetPending = errors.New("messenger: the secure session is being renewed after a restore; try again shortly")
)

// Config opens or creates a profile.
type Config struct {
	// Dir is the profile's folder; DefaultDir() is the usual choice.
	Dir string
	// Passphrase unlocks the vault. The messenger does not keep it.
	Passphrase []byte
	// Pseudonym and RelayURL are for Create: the name contacts see and
	// the relay where this profile's mailboxes live (wss://, or ws:// to
	// loopback). An empty RelayURL runs a relay embedded in the process
	// (for trying Ephemera out on one machine).
	Pseudonym string
	RelayURL  string
	// SOCKS5 is the address (host:port) of a SOCKS5 proxy, such as Tor's
	// 127.0.0.1:9050, through which every relay connection goes. With a
	// proxy, connections are always isolated (as with IsolateMailboxes),
	// each with its own SOCKS5 credentials, so Tor gives each its own
	// circuit.
	SOCKS5 string
	// IsolateMailboxes opens one relay connection per mailbox we read and
	// one per mailbox we send to, so a relay cannot link a user's
	// contacts by their connection (without a proxy, it still can by IP
	// address). Sends never go on a connection that reads a mailbox,
	// isolated or not.
	IsolateMailboxes bool
	// Now and Rand replace the clock and the randomness; nil means the
	// real ones. Tests inject a clock to check expiry.
	Now  func() time.Time
	Rand io.Reader
	// ExpiryInterval is how often expiry runs while open (default 1 s).
	ExpiryInterval time.Duration
	// Logger receives diagnostics, never contents or mailbox ids.
	Logger *slog.Logger
	// InsecureTestKDF and NoSync are for tests: cheap passphrase
	// stretching and no fsync. Never set them in a real program.
	InsecureTestKDF bool
	NoSync          bool
	// HTTPClient, if set, carries the relays' WebSocket handshakes (tests
	// pass one that trusts their own certificate authority).
	HTTPClient *http.Client
}

// DefaultDir returns the default profile folder of this operating system:
// %AppData%\Ephemera on Windows, ~/Library/Application Support/Ephemera
// on macOS, $XDG_DATA_HOME/ephemera (~/.local/share/ephemera) elsewhere.
func DefaultDir() (string, error) {
	switch runtime.GOOS {
	case "windows", "darwin", "ios":
		d, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(d, "Ephemera"), nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "ephemera"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share", "ephemera"), nil
}

// Messenger is one open profile: its vault, identity, contacts, sessions,
// relay connections, outbox and timers. It is safe for concurrent use.
// Make one with Create or Open, and Close it to lock the profile.
type Messenger struct {
	cfg  Config
	log  *slog.Logger
	v    *vault.Vault
	id   *identity.Identity
	keys session.Identity
	now  func() time.Time
	rand io.Reader
	hub  hub

	embedded *embedded.Relay

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu serialises everything that changes ratchet or prekey state, so
	// the vault's copy is always the one in use.
	mu      sync.Mutex
	prof    profileRec
	prekeys *session.PrekeyStore
	// pk tracks which one-time prekeys are published on which mailbox
	// (see prekeys.go); guarded by mu.
	pk     prekeyState
	owners map[wire.MailboxID]string // our mailbox → contact id, or "invite:"+id
	// sessions caches parsed sessions (parsing one costs ML-KEM key
	// expansion); see sessionIn.
	sessions map[string]*session.Session
	envKeys  map[[32]byte]hpke.PublicKey // parsed envelope keys by bundle digest
	jobs     chan *job                   // for writeLoop
	// What the current transaction sends and the sessions it advanced;
	// see flushOut.
	out      map[string]*outBatch
	outOrder []string
	dirty    map[string]*session.Session
	// hold names contacts whose mailbox is not registered yet: nothing
	// goes to them until it is, since their answer would name it.
	hold sync.Map

	relayMu    sync.Mutex
	relays     map[string]*relayConn
	seenPruned atomic.Int64 // unix nanos (m's clock) of the last pruneSeen
	// maxEnvelope holds the max_envelope each relay (by URL) announced
	// in its last hello.
	maxEnvelope sync.Map

	outboxWake   chan struct{}
	lastActivity atomic.Int64 // unix nanos of the last delivery handled
	pending      atomic.Int64 // registrations and sends in progress
	closed       atomic.Bool
	closeOnce    sync.Once
	xfers        transfers
}

func (cfg *Config) defaults() {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ExpiryInterval <= 0 {
		cfg.ExpiryInterval = time.Second
	}
}

func (cfg *Config) vaultOptions(m *Messenger) vault.Options {
	return vault.Options{
		InsecureTestKDF: cfg.InsecureTestKDF, NoSync: cfg.NoSync, Now: cfg.Now,
		ExpiryInterval: cfg.ExpiryInterval,
		OnExpire: func(expired []vault.Message, err error) {
			if m != nil {
				m.onExpired(expired, err)
			}
		},
		CompactEvery: 1000,
	}
}

// Create makes a new profile in cfg.Dir (which must hold none): a vault
// under cfg.Passphrase, a fresh identity called cfg.Pseudonym, and prekeys.
// It then opens it, as Open does.
func Create(cfg Config) (*Messenger, error) {
	cfg.defaults()
	name, err := identity.ValidatePseudonym(cfg.Pseudonym)
	if err != nil {
		return nil, fmt.Errorf("messenger: %w", err)
	}
	relayURL := cfg.RelayURL
	if relayURL != "" {
		if relayURL, err = wsconn.NormalizeURL(relayURL); err != nil {
			return nil, fmt.Errorf("messenger: relay: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, vault.HeaderFile)); err == nil {
		return nil, ErrProfileExists
	}
	m := &Messenger{}
	v, err := vault.Create(cfg.Dir, cfg.Passphrase, cfg.vaultOptions(m))
	if errors.Is(err, vault.ErrExists) {
		// The vault's error says why (a vault.db without its header is
		// a profile to restore, not a place to create one).
		return nil, fmt.Errorf("%w: %w", ErrProfileExists, err)
	}
	if err != nil {
		return nil, err
	}
	id, err := identity.Generate(cfg.Rand, name)
	if err != nil {
		v.Close()
		return nil, err
	}
	keys := session.Identity{Signing: id.SigningKey(), DH: id.DHKey()}
	store, _, err := session.NewPrekeys(keys, cfg.Rand, cfg.Now(), 0)
	if err != nil {
		v.Close()
		return nil, err
	}
	idb, err := id.MarshalBinary()
	if err != nil {
		v.Close()
		return nil, err
	}
	pkb, err := store.MarshalBinary()
	if err != nil {
		v.Close()
		return nil, err
	}
	prof := profileRec{Version: 1, Pseudonym: name, RelayURL: relayURL, Created: cfg.Now().UTC(),
		Settings: Settings{}}
	err = v.Update(func(t *vault.Tx) error {
		if err := t.PutIdentity(recIdentity, idb); err != nil {
			return err
		}
		if err := t.PutIdentity(recPrekeys, pkb); err != nil {
			return err
		}
		return t.PutProfile(mustJSON(prof))
	})
	if err != nil {
		v.Close()
		return nil, err
	}
	return m.start(cfg, v)
}

// HasProfile says whether dir holds a profile (to unlock) rather than
// nothing (to create one in).
func HasProfile(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, vault.HeaderFile))
	return err == nil
}

// Open unlocks the profile in cfg.Dir. A wrong passphrase is
// ErrWrongPassphrase; a folder without a profile ErrNoProfile. Before it
// returns, what expired while the profile was closed is gone.
func Open(cfg Config) (*Messenger, error) {
	cfg.defaults()
	if _, err := os.Stat(filepath.Join(cfg.Dir, vault.HeaderFile)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoProfile, cfg.Dir)
	}
	m := &Messenger{}
	v, err := vault.Open(cfg.Dir, cfg.Passphrase, cfg.vaultOptions(m))
	if err != nil {
		return nil, err
	}
	return m.start(cfg, v)
}

// DiscardLostKeys is the destructive repair of a profile whose vault.keys
// is lost or older than its vault.db, which Open refuses with ErrDamaged
// (restoring the file from a backup is the repair that loses nothing).
// It deletes the messages and attachments whose keys are gone, makes a
// new key file if there is none, and returns how many it deleted. Only
// for when the user asks for it, with a copy of the folder kept.
func DiscardLostKeys(cfg Config) (deleted int, err error) {
	cfg.defaults()
	v, n, err := vault.DiscardLostKeys(cfg.Dir, cfg.Passphrase, vault.Options{InsecureTestKDF: cfg.InsecureTestKDF, NoSync: cfg.NoSync, Now: cfg.Now})
	if err != nil {
		return 0, err
	}
	return n, v.Close()
}

// start loads the profile from an open vault and connects.
func (m *Messenger) start(cfg Config, v *vault.Vault) (_ *Messenger, err error) {
	m.cfg, m.v, m.log, m.now, m.rand = cfg, v, cfg.Logger, cfg.Now, cfg.Rand
	m.owners = map[wire.MailboxID]string{}
	m.sessions = map[string]*session.Session{}
	m.envKeys = map[[32]byte]hpke.PublicKey{}
	m.jobs = make(chan *job, 1024)
	m.out = map[string]*outBatch{}
	m.dirty = map[string]*session.Session{}
	m.out = map[string]*outBatch{}
	m.dirty = map[string]*session.Session{}
	m.relays = map[string]*relayConn{}
	m.outboxWake = make(chan struct{}, 1)
	m.xfers.wake = make(chan struct{}, 1)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			m.cancel()
			if m.embedded != nil {
				m.embedded.Close()
			}
			v.Close()
		}
	}()
	if m.prof, err = getJSON[profileRec](v.Profile()); err != nil {
		return nil, fmt.Errorf("messenger: profile: %w", err)
	}
	// The profile's connection settings, unless the caller chose.
	if m.cfg.SOCKS5 == "" {
		m.cfg.SOCKS5 = m.prof.Settings.SOCKS5
	}
	m.cfg.IsolateMailboxes = m.cfg.IsolateMailboxes || m.prof.Settings.IsolateMailboxes
	idb, err := v.Identity(recIdentity)
	if err != nil {
		return nil, fmt.Errorf("messenger: identity: %w", err)
	}
	if m.id, err = identity.ParsePrivate(idb); err != nil {
		return nil, fmt.Errorf("messenger: identity: %w", err)
	}
	m.keys = session.Identity{Signing: m.id.SigningKey(), DH: m.id.DHKey()}
	pkb, err := v.Identity(recPrekeys)
	if err != nil {
		return nil, fmt.Errorf("messenger: prekeys: %w", err)
	}
	m.prekeys = new(session.PrekeyStore)
	if err := m.prekeys.UnmarshalBinary(pkb); err != nil {
		return nil, fmt.Errorf("messenger: prekeys: %w", err)
	}
	if err := m.loadPrekeyGroups(); err != nil {
		return nil, err
	}
	// Rotate before any mailbox is read, so that what waits there meets
	// the keys in their grace period; prekeyLoop publishes.
	if rotated, err := m.rotateIfDue(); err != nil {
		return nil, err
	} else if rotated {
		if err := m.savePrekeys(); err != nil {
			return nil, err
		}
	}
	if m.prof.RelayURL == "" {
		if err := m.startEmbedded(); err != nil {
			return nil, err
		}
	}
	// A restored backup's sessions are retired before anything is
	// received (receipts) or sent.
	if err := m.retireRestoredSessions(); err != nil {
		return nil, err
	}
	m.seenPruned.Store(m.now().UnixNano())
	if err := m.v.Update(func(t *vault.Tx) error { return pruneSeen(t, m.now()) }); err != nil {
		return nil, err
	}
	// Connect every mailbox we read.
	contacts, err := m.contactRecs()
	if err != nil {
		return nil, err
	}
	for _, c := range contacts {
		m.watch(c.Mine, c.ID)
	}
	invites, err := m.inviteRecs()
	if err != nil {
		return nil, err
	}
	for _, inv := range invites {
		if inv.Expires.After(m.now()) {
			m.watch(inv.Mailbox, "invite:"+inv.ID)
		}
	}
	m.wg.Add(1)
	go m.sendLoop()
	m.wg.Add(1)
	go m.writeLoop()
	m.wg.Add(1)
	go m.transferLoop()
	m.wg.Add(1)
	go m.prekeyLoop()
	m.resumeResets(contacts)
	return m, nil
}

// startEmbedded runs the profile's own relay in Dir/relay, on the address
// it had before when that is free.
func (m *Messenger) startEmbedded() error {
	addr := ""
	if u, err := url.Parse(m.prof.EmbeddedURL); err == nil && m.prof.EmbeddedURL != "" {
		addr = u.Host
	}
	r, err := embedded.Start(m.ctx, embedded.Options{DataDir: filepath.Join(m.cfg.Dir, "relay"), Addr: addr,
		Logger: m.log.With("component", "relay")})
	if err != nil {
		return fmt.Errorf("messenger: embedded relay: %w", err)
	}
	m.embedded = r
	if m.prof.EmbeddedURL == "" {
		m.prof.EmbeddedURL = r.URL()
		return m.v.PutProfile(mustJSON(m.prof))
	}
	return nil
}

// relayURL returns the URL new mailboxes of this profile go to.
func (m *Messenger) relayURL() string {
	if m.prof.RelayURL != "" {
		return m.prof.RelayURL
	}
	return m.embedded.URL()
}

// RelayURL returns the relay where this profile's new mailboxes go.
func (m *Messenger) RelayURL() string { return m.relayURL() }

// Pseudonym returns the profile's pseudonym.
func (m *Messenger) Pseudonym() string { return m.id.Pseudonym() }

// Close stops every connection and timer, locks the vault (wiping its
// keys) and ends every subscription. It is idempotent.
func (m *Messenger) Close() error {
	var err error
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		m.cancel()
		m.relayMu.Lock()
		conns := m.relays
		m.relays = map[string]*relayConn{}
		m.relayMu.Unlock()
		for _, rc := range conns {
			rc.client.Close()
		}
		m.wg.Wait()
		if m.embedded != nil {
			err = errors.Join(err, m.embedded.Close())
		}
		err = errors.Join(err, m.v.Close())
		clear(m.sessions)
		decoded.Lock()
		clear(decoded.m) // decrypted contact records hold mailbox keys
		decoded.Unlock()
		m.hub.closeAll()
	})
	return err
}

// Subscribe returns a stream of events with a queue of buf events (0 for
// the default, 256). Events are never blocked on: if the subscriber falls
// behind, events are dropped and it receives EventsDropped, after which
// it should reload what it shows.
func (m *Messenger) Subscribe(buf int) *Subscription { return m.hub.subscribe(buf) }

// ChangePassphrase rewraps the vault's master key under a new passphrase.
// It is quick and keeps the master key: an old copy of the profile's
// vault.hdr (or a backup) still opens the profile with the old
// passphrase. ChangePassphraseRekey does not.
func (m *Messenger) ChangePassphrase(old, new []byte) error {
	return m.v.ChangePassphrase(old, new)
}

// ChangePassphraseRekey changes the passphrase and re-encrypts the whole
// vault under a new master key (vault.Vault.Rekey), so that an old copy
// of vault.hdr or a backup, with the old passphrase, opens nothing of the
// profile as it is now. It rewrites every record and key slot, so it
// takes longer than ChangePassphrase, and other calls wait for it; a
// crash leaves the profile openable with the old passphrase or the new.
func (m *Messenger) ChangePassphraseRekey(old, new []byte) error {
	return m.v.Rekey(old, new)
}

// relayConn is one connection to a relay.
type relayConn struct {
	url    string
	client *relayclient.Client
	acks   chan map[wire.MailboxID][]uint64 // stored batches to acknowledge
}

// Connections come in two kinds, so that the relay cannot link a sender
// to a recipient by the connection a Send arrives on:
//
//   - read connections authenticate for our own mailboxes and receive
//     their envelopes (also blob uploads, which are charged to one);
//   - send connections authenticate nothing: Send, ClaimPrekey and blob
//     downloads, which all reach someone else's mailbox, go on them.
//
// Without isolation there is one of each per relay. With isolation
// (IsolateMailboxes, and always with a SOCKS5 proxy) there is one read
// connection per mailbox owner (a contact or an invite) and one send
// connection per destination mailbox, and through a proxy each has its
// own SOCKS5 credentials, so Tor puts each on its own circuit.

// isolated says whether mailboxes and destinations get connections of
// their own.
func (m *Messenger) isolated() bool { return m.cfg.IsolateMailboxes || m.cfg.SOCKS5 != "" }

// readKey names the read connection for owner's mailbox on url.
func (m *Messenger) readKey(url, owner string) string {
	if m.isolated() && owner != "" {
		return "read " + url + "#" + owner
	}
	return "read " + url
}

// sendKey names the send connection that reaches mailbox dest on url.
func (m *Messenger) sendKey(url string, dest wire.MailboxID) string {
	if m.isolated() {
		return "send " + url + "#" + hex.EncodeToString(dest[:])
	}
	return "send " + url
}

// readConn returns the connection that reads owner's mailboxes on url,
// dialling it if needed.
func (m *Messenger) readConn(url, owner string) (*relayConn, error) {
	return m.conn(url, m.readKey(url, owner))
}

// sendConn returns the connection, authenticated for nothing, that
// reaches mailbox dest on url, dialling it if needed.
func (m *Messenger) sendConn(url string, dest wire.MailboxID) (*relayConn, error) {
	return m.conn(url, m.sendKey(url, dest))
}

// conn returns the connection named key, dialling it if needed.
func (m *Messenger) conn(url, key string) (*relayConn, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	m.relayMu.Lock()
	defer m.relayMu.Unlock()
	if rc := m.relays[key]; rc != nil {
		return rc, nil
	}
	cfg := relayclient.Config{URL: url, Rand: m.rand}
	if m.log.Enabled(context.Background(), slog.LevelDebug) {
		cfg.Logger = m.log.With("component", "relayclient")
	}
	hc, err := m.httpClient()
	if err != nil {
		return nil, err
	}
	cfg.HTTPClient = hc
	rc := &relayConn{url: url, acks: make(chan map[wire.MailboxID][]uint64, 64)}
	if testDeliveryBuffer > 0 {
		cfg.DeliveryBuffer = testDeliveryBuffer
	}
	cfg.OnState = func(s relayclient.State, err error) {
		// The relay's max_envelope bounds what flushOut packs into
		// one envelope for it.
		if h, ok := rc.client.Hello(); ok && h.MaxEnvelope > 0 {
			m.maxEnvelope.Store(url, int(h.MaxEnvelope))
		}
		m.hub.post(RelayChanged{Relay: url, State: connState(s), Err: err})
	}
	c, err := relayclient.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("messenger: relay %q: %w", url, err)
	}
	rc.client = c
	m.relays[key] = rc
	c.Start()
	m.wg.Add(1)
	go m.receiveLoop(rc)
	return rc, nil
}

// httpClient is the WebSocket handshake's client: direct, or through the
// SOCKS5 proxy. Proxy environment variables are never used. Through a
// proxy, each client (each connection) presents its own random username
// and password: Tor isolates streams by them (IsolateSOCKSAuth, on by
// default), so no two connections share a circuit or an exit address.
func (m *Messenger) httpClient() (*http.Client, error) {
	if m.cfg.HTTPClient != nil && m.cfg.SOCKS5 == "" {
		return m.cfg.HTTPClient, nil
	}
	if m.cfg.SOCKS5 == "" {
		return nil, nil
	}
	user, err := randomHex(m.rand, 16)
	if err != nil {
		return nil, err
	}
	pass, err := randomHex(m.rand, 16)
	if err != nil {
		return nil, err
	}
	d, err := proxy.SOCKS5("tcp", m.cfg.SOCKS5, &proxy.Auth{User: user, Password: pass}, &net.Dialer{Timeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("messenger: SOCKS5 proxy: %w", err)
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return nil, errors.New("messenger: SOCKS5 dialer cannot take a context")
	}
	tr := &http.Transport{Proxy: nil, DialContext: cd.DialContext, ForceAttemptHTTP2: false}
	if m.cfg.HTTPClient != nil {
		if t, ok := m.cfg.HTTPClient.Transport.(*http.Transport); ok {
			tr.TLSClientConfig = t.TLSClientConfig
		}
	}
	return &http.Client{Transport: tr}, nil
}

// watch registers one of our mailboxes on its relay and routes its
// envelopes to owner.
func (m *Messenger) watch(mb ownMailbox, owner string) {
	m.mu.Lock()
	m.owners[mb.ID] = owner
	m.mu.Unlock()
	rc, err := m.readConn(m.resolve(mb.Relay), owner)
	if err != nil {
		m.log.Warn("cannot connect a mailbox", "err", err)
		return
	}
	m.pending.Add(1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.pending.Add(-1)
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
			err := rc.client.Register(ctx, mb.client())
			cancel()
			if err == nil || m.ctx.Err() != nil {
				if _, held := m.hold.LoadAndDelete(owner); held {
					m.wakeOutbox()
				}
				return
			}
			m.log.Warn("mailbox registration failed; retrying", "err", err)
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(backoff(attempt)):
			}
		}
	}()
}

// unwatch stops reading a mailbox.
// The caller holds m.mu.
func (m *Messenger) unwatch(mb ownMailbox, owner string) {
	delete(m.owners, mb.ID)
	m.relayMu.Lock()
	u := m.resolve(mb.Relay)
	rc := m.relays[m.readKey(u, owner)]
	m.relayMu.Unlock()
	if rc != nil {
		rc.client.Forget(mb.ID)
	}
}

// resolve maps a stored relay URL to the one to dial: our embedded relay
// may have moved to another port since the URL was stored.
func (m *Messenger) resolve(u string) string {
	if m.embedded != nil && u == m.prof.EmbeddedURL && u != "" {
		return m.embedded.URL()
	}
	return u
}

func backoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << min(attempt, 8)
	return min(d, time.Minute)
}

func tokenHash(t wire.Key32) wire.Key32 { return sha256.Sum256(t[:]) }

// newMailbox makes a fresh mailbox on our relay.
func (m *Messenger) newMailbox() (ownMailbox, error) {
	var mb ownMailbox
	mb.Relay = m.relayURL()
	if _, err := io.ReadFull(m.rand, mb.ID[:]); err != nil {
		return mb, err
	}
	if _, err := io.ReadFull(m.rand, mb.Token[:]); err != nil {
		return mb, err
	}
	seed := make([]byte, 32)
	if _, err := io.ReadFull(m.rand, seed); err != nil {
		return mb, err
	}
	mb.Key = ed25519.NewKeyFromSeed(seed)
	return mb, nil
}
