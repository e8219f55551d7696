package relay

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipKey is the unit per-address limits apply to: an IPv4 address, or the
// /64 prefix of an IPv6 address (one host commonly holds a whole /64).
type ipKey = netip.Prefix

func keyOf(a netip.Addr) ipKey {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	p, _ := a.Prefix(a.BitLen())
	return p
}

// ipState is what the relay remembers about one address.
type ipState struct {
	conns    int
	connRate *rate.Limiter
	regRate  *rate.Limiter
}

// admission counts connections globally and per address.
type admission struct {
	srv *Server

	mu    sync.Mutex
	total int
	ips   map[ipKey]*ipState
}

// limited reports whether per-address limits apply to a.
func (a *admission) limited(addr netip.Addr) bool {
	return addr.IsValid() && (a.srv.limits.LimitLoopback || !addr.Unmap().IsLoopback())
}

// admit reserves a connection slot for remote, or returns the reason it is
// refused. The caller must call release(remote) once for an admitted one.
func (a *admission) admit(remote netip.Addr) (reason string) {
	l := &a.srv.limits
	now := a.srv.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.total >= l.MaxConns {
		return reasonMaxConns
	}
	if a.limited(remote) {
		st := a.stateLocked(remote)
		if st.conns >= l.IPMaxConns {
			return reasonIPConns
		}
		if !st.connRate.AllowN(now, 1) {
			return reasonIPRate
		}
		st.conns++
	}
	a.total++
	return ""
}

func (a *admission) release(remote netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if a.limited(remote) {
		if st := a.ips[keyOf(remote)]; st != nil {
			st.conns--
		}
	}
}

// allowRegister reports whether remote may create another mailbox now.
func (a *admission) allowRegister(remote netip.Addr) bool {
	if !a.limited(remote) {
		return true
	}
	now := a.srv.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stateLocked(remote).regRate.AllowN(now, 1)
}

func (a *admission) stateLocked(remote netip.Addr) *ipState {
	k := keyOf(remote)
	st := a.ips[k]
	if st == nil {
		l := &a.srv.limits
		st = &ipState{
			connRate: rate.NewLimiter(rate.Limit(l.IPConnRate), l.IPConnBurst),
			regRate:  rate.NewLimiter(rate.Limit(l.IPRegisterRate), l.IPRegisterBurst),
		}
		a.ips[k] = st
	}
	return st
}

// prune forgets addresses with no connection whose buckets have refilled:
// remembering them would only grow the map.
func (a *admission) prune(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, st := range a.ips {
		if st.conns == 0 &&
			st.connRate.TokensAt(now) >= float64(st.connRate.Burst()) &&
			st.regRate.TokensAt(now) >= float64(st.regRate.Burst()) {
			delete(a.ips, k)
		}
	}
}
