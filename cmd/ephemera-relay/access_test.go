package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAllowHost runs the daemon with --allow-host and --refuse-origin and
// sends it forged Host and Origin headers over real HTTP.
func TestAllowHost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--data", t.TempDir(),
			"--allow-host", "relay.example", "--refuse-origin"},
			func(string) (string, bool) { return "", false }, io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("did not stop")
		}
	}()
	re := regexp.MustCompile(`listening url=ws://(127\.0\.0\.1:\d+)/v1/ws`)
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == ""; {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listening line; stderr:\n%s", stderr.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, tc := range []struct {
		path, host, origin string
		want               int
	}{
		{"/metrics", "relay.example", "", http.StatusOK},
		{"/metrics", "relay.example:443", "", http.StatusOK},
		{"/metrics", "", "", http.StatusMisdirectedRequest}, // 127.0.0.1:port
		{"/metrics", "rebind.attacker.example", "", http.StatusMisdirectedRequest},
		{"/metrics", "relay.example", "https://relay.example", http.StatusForbidden},
		{"/v1/ws", "rebind.attacker.example", "", http.StatusMisdirectedRequest},
		{"/healthz", "rebind.attacker.example", "", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", "http://"+addr+tc.path, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s Host %q Origin %q: got %d, want %d", tc.path, tc.host, tc.origin, resp.StatusCode, tc.want)
		}
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

func TestScrubbedLog(t *testing.T) {
	var buf lockedBuffer
	l := scrubbedLog{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	fmt.Fprintf(l, "http: TLS handshake error from 198.51.100.7:50312: EOF\n")
	if got := buf.String(); strings.Contains(got, "198.51.100.7") || strings.Contains(got, "50312") || !strings.Contains(got, "TLS handshake error") {
		t.Errorf("got %q", got)
	}
}
