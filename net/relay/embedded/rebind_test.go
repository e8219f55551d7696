package embedded

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestDNSRebinding plays a web page whose name the attacker has pointed
// at 127.0.0.1: its requests reach the embedded relay with the page's
// name in Host and, from the browser, its origin in Origin. The relay
// answers none of them, on /v1/ws or /metrics, while the app's own
// client (Host 127.0.0.1:PORT, no Origin) still connects.
func TestDNSRebinding(t *testing.T) {
	r, err := Start(context.Background(), Options{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	hostport := strings.TrimSuffix(strings.TrimPrefix(r.URL(), "ws://"), "/v1/ws")
	port := hostport[strings.LastIndex(hostport, ":")+1:]
	page := "rebind.attacker.example:" + port

	for _, tc := range []struct {
		name, host, origin string
		want               int
	}{
		{"rebound name", page, "", http.StatusMisdirectedRequest},
		{"rebound page", page, "http://" + page, http.StatusMisdirectedRequest},
		{"page on loopback", hostport, "http://" + hostport, http.StatusForbidden},
		{"page on localhost", "localhost:" + port, "http://localhost:" + port, http.StatusForbidden},
		{"native client", "", "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			opts := &websocket.DialOptions{Host: tc.host}
			if tc.origin != "" {
				opts.HTTPHeader = http.Header{"Origin": {tc.origin}}
			}
			ws, resp, err := websocket.Dial(ctx, r.URL(), opts)
			if tc.want == http.StatusOK {
				if err != nil {
					t.Fatalf("/v1/ws: %v", err)
				}
				ws.CloseNow()
			} else if err == nil {
				ws.CloseNow()
				t.Errorf("/v1/ws: upgraded, want %d", tc.want)
			} else if resp == nil || resp.StatusCode != tc.want {
				t.Errorf("/v1/ws: got %v (%v), want %d", resp, err, tc.want)
			}

			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+hostport+"/metrics", nil)
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			mresp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			mresp.Body.Close()
			if mresp.StatusCode != tc.want {
				t.Errorf("/metrics: got %d, want %d", mresp.StatusCode, tc.want)
			}
		})
	}
}
