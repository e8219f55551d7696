package messenger

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Settings returns the profile's preferences.
func (m *Messenger) Settings() Settings {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.prof.Settings
}

// SetSettings stores new preferences in the vault; they apply at once,
// but for SOCKS5 and IsolateMailboxes, which apply when the profile is
// next opened.
func (m *Messenger) SetSettings(s Settings) error {
	if s.SOCKS5 != "" {
		if err := checkProxyAddr(s.SOCKS5); err != nil {
			return err
		}
	}
	if s.AutoLock > 0 && s.AutoLock < 10*time.Second {
		return fmt.Errorf("messenger: auto-lock after %v is too short (at least 10s)", s.AutoLock)
	}
	if _, err := s.Interstitial.MarshalText(); err != nil {
		return fmt.Errorf("messenger: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.prof
	p.Settings = s
	if err := m.v.PutProfile(mustJSON(p)); err != nil {
		return err
	}
	m.prof = p
	return nil
}

// Shred runs expiry now and then compacts the vault into a fresh file, so
// that freed pages holding old ciphertext leave the disk (see
// storage/vault for what this can and cannot guarantee on SSDs and
// copy-on-write file systems).
func (m *Messenger) Shred() error {
	if err := m.ExpireNow(); err != nil {
		return err
	}
	return m.v.Compact()
}

// RelayStates returns the state of each relay connection now, by relay
// URL (the best state among a relay's connections). RelayChanged events
// report changes after this.
func (m *Messenger) RelayStates() map[string]ConnState {
	m.relayMu.Lock()
	defer m.relayMu.Unlock()
	out := make(map[string]ConnState, len(m.relays))
	for _, rc := range m.relays {
		s := connState(rc.client.State())
		if old, ok := out[rc.url]; !ok || s == StateConnected || (s == StateConnecting && old != StateConnected) {
			out[rc.url] = s
		}
	}
	return out
}

// ErrBadProxy is returned for a SOCKS5 proxy address that is not
// host:port.
var ErrBadProxy = errors.New("messenger: the proxy address must be host:port, such as 127.0.0.1:9050")

func checkProxyAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadProxy, addr, err)
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%w: %q", ErrBadProxy, addr)
	}
	return nil
}

// SOCKS5 returns the SOCKS5 proxy this messenger uses (for relays, link
// previews and link checks), or "" for none: Config.SOCKS5, or else the
// one in Settings when the profile was opened.
func (m *Messenger) SOCKS5() string { return m.cfg.SOCKS5 }
