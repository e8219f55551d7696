package relay

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// upgrade asks hs for a WebSocket with the given Host and Origin (either
// may be empty: the URL's host, no Origin) and returns the HTTP status:
// 101 when the relay accepted.
func upgrade(t *testing.T, hs *httptest.Server, host, origin string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{Host: host}
	if origin != "" {
		opts.HTTPHeader = http.Header{"Origin": {origin}}
	}
	ws, resp, err := websocket.Dial(ctx, wsURL(hs), opts)
	if err == nil {
		ws.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial with Host %q Origin %q: %v", host, origin, err)
	}
	return resp.StatusCode
}

// get requests path from hs with the given Host and Origin and returns
// the status.
func get(t *testing.T, hs *httptest.Server, path, host, origin string) int {
	t.Helper()
	req, err := http.NewRequest("GET", hs.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAccess sends forged Host and Origin headers, as a page that has
// rebound its name to the relay's address does, over real HTTP to each
// kind of Access.
func TestAccess(t *testing.T) {
	type probe struct {
		host, origin string
		ws, metrics  int // wanted statuses
	}
	const (
		ok       = http.StatusOK
		upgraded = http.StatusSwitchingProtocols
		wrong    = http.StatusMisdirectedRequest
		denied   = http.StatusForbidden
	)
	for _, tc := range []struct {
		name   string
		access Access
		probes func(port string) []probe
	}{
		{name: "zero value: any host", probes: func(port string) []probe {
			return []probe{
				{"", "", upgraded, ok},
				{"relay.example", "", upgraded, ok},
				// The WebSocket library's own check: Origin must name Host.
				{"", "https://evil.example", denied, ok},
			}
		}},
		{name: "hosts", access: Access{Hosts: []string{"relay.example", "2001:db8::1"}}, probes: func(port string) []probe {
			return []probe{
				{"relay.example", "", upgraded, ok},
				{"Relay.Example.:443", "", upgraded, ok},
				{"[2001:db8::1]:443", "", upgraded, ok},
				{"", "", wrong, wrong}, // 127.0.0.1:port
				{"rebind.attacker.example:" + port, "", wrong, wrong},
				{"relay.example.attacker.example", "", wrong, wrong},
			}
		}},
		{name: "origins", access: Access{Origins: []string{"https://app.example"}}, probes: func(port string) []probe {
			return []probe{
				{"", "", upgraded, ok},
				{"", "https://APP.example", upgraded, ok},
				{"", "https://evil.example", denied, denied},
				{"", "http://app.example", denied, denied},
				{"", "null", denied, denied},
			}
		}},
		{name: "loopback", access: LoopbackAccess(), probes: func(port string) []probe {
			return []probe{
				{"", "", upgraded, ok},
				{"localhost:" + port, "", upgraded, ok},
				{"[::1]:" + port, "", upgraded, ok},
				{"rebind.attacker.example:" + port, "", wrong, wrong},
				{"rebind.attacker.example:" + port, "http://rebind.attacker.example:" + port, wrong, wrong},
				// Even a page served from this very address is a browser.
				{"", "http://127.0.0.1:" + port, denied, denied},
				{"localhost:" + port, "http://localhost:" + port, denied, denied},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Access = tc.access })
			hs := e.httpServer()
			port := hs.URL[strings.LastIndex(hs.URL, ":")+1:]
			for _, p := range tc.probes(port) {
				if got := upgrade(t, hs, p.host, p.origin); got != p.ws {
					t.Errorf("/v1/ws Host %q Origin %q: got %d, want %d", p.host, p.origin, got, p.ws)
				}
				if got := get(t, hs, "/metrics", p.host, p.origin); got != p.metrics {
					t.Errorf("/metrics Host %q Origin %q: got %d, want %d", p.host, p.origin, got, p.metrics)
				}
				// Probes call /healthz by address; it says only ok.
				if got := get(t, hs, "/healthz", p.host, p.origin); got != ok {
					t.Errorf("/healthz Host %q Origin %q: got %d, want 200", p.host, p.origin, got)
				}
			}
			if tc.access.Hosts != nil || tc.access.Origins != nil {
				if n := e.metric("ephemera_relay_rejected_connections_total", "reason", reasonHost) +
					e.metric("ephemera_relay_rejected_connections_total", "reason", reasonOrigin); n == 0 {
					t.Error("no refusal counted")
				}
			}
		})
	}
}

func TestAccessValidate(t *testing.T) {
	for _, a := range []Access{
		{Hosts: []string{""}},
		{Origins: []string{"app.example"}},
		{Origins: []string{"https://app.example"}, RefuseOrigin: true},
	} {
		if _, err := New(Config{Store: newEnv(t).store, Access: a}); err == nil {
			t.Errorf("New with Access %+v: no error", a)
		}
	}
}
