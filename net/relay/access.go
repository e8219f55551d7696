package relay

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Access says whose HTTP requests the relay answers on /v1/ws and
// /metrics. It is the defence against DNS rebinding: a web page whose
// host name the attacker points at 127.0.0.1 reaches a relay on loopback
// with its own name in Host and its own origin in Origin, and the
// browser, seeing one origin, lets the page read the answers. /healthz
// stays open to all: it says only "ok" or "unavailable", and probes call
// it by IP address.
//
// The zero value accepts any Host and leaves Origin to the WebSocket
// library, which accepts a browser's upgrade only when Origin names the
// Host (what a relay did before Access existed).
type Access struct {
	// Hosts are the host names (or IP addresses) a request's Host header
	// may carry, compared without the port and ignoring case; empty
	// means any.
	Hosts []string
	// Origins are the browser origins ("https://app.example") accepted,
	// compared ignoring case; a request without an Origin header is not
	// affected. Empty means the WebSocket library's same-host check on
	// /v1/ws and no check on /metrics.
	Origins []string
	// RefuseOrigin refuses every request that carries an Origin header,
	// which only browsers send: for a relay that serves native clients
	// only, such as the desktop app's embedded relay.
	RefuseOrigin bool
}

// LoopbackAccess is the Access of a relay that only this machine's native
// clients use: Host must be a loopback name and no browser may call.
func LoopbackAccess() Access {
	return Access{Hosts: []string{"localhost", "127.0.0.1", "::1"}, RefuseOrigin: true}
}

// normalHost returns the host of a Host header value or a configured name:
// lower case, without port, brackets or a trailing dot.
func normalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// normalOrigin returns an Origin value as scheme://host[:port] in lower
// case, or "" if it is not one.
func normalOrigin(o string) string {
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

func (a *Access) validate() error {
	for _, h := range a.Hosts {
		if normalHost(h) == "" {
			return fmt.Errorf("relay: Access.Hosts: empty host name %q", h)
		}
	}
	for _, o := range a.Origins {
		if normalOrigin(o) == "" {
			return fmt.Errorf("relay: Access.Origins: %q is not an origin (want scheme://host[:port])", o)
		}
	}
	if a.RefuseOrigin && len(a.Origins) > 0 {
		return fmt.Errorf("relay: Access: RefuseOrigin with a list of Origins")
	}
	return nil
}

// check returns the status, metric label and reason to refuse r with, or
// status 0. explicit
// reports an Origin accepted by the list, which the WebSocket library's
// own same-host check must then not refuse.
func (a *Access) check(r *http.Request) (status int, label, reason string, explicit bool) {
	if len(a.Hosts) > 0 {
		host, ok := normalHost(r.Host), false
		for _, h := range a.Hosts {
			if normalHost(h) == host {
				ok = true
				break
			}
		}
		if !ok {
			// 421: this server does not answer for that name.
			return http.StatusMisdirectedRequest, reasonHost, "relay: host not served here", false
		}
	}
	origin, has := r.Header["Origin"]
	if !has {
		return 0, "", "", false
	}
	if a.RefuseOrigin {
		return http.StatusForbidden, reasonOrigin, "relay: browser requests are not accepted", false
	}
	if len(a.Origins) == 0 {
		return 0, "", "", false
	}
	if len(origin) == 1 {
		if o := normalOrigin(origin[0]); o != "" {
			for _, want := range a.Origins {
				if normalOrigin(want) == o {
					return 0, "", "", true
				}
			}
		}
	}
	return http.StatusForbidden, reasonOrigin, "relay: origin not allowed", false
}

// guard wraps h with the Access check.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, label, reason, _ := s.access.check(r)
		if status != 0 {
			s.metrics.rejectedConns.WithLabelValues(label).Inc()
			s.log.Debug("refused an HTTP request", "reason", label)
			http.Error(w, reason, status)
			return
		}
		h.ServeHTTP(w, r)
	})
}
