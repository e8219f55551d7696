// Package wsconn adapts a github.com/coder/websocket connection to
// wire.Conn: one frame per binary WebSocket message. Relay URLs are
// normalised and checked here, so client and server agree on them.
package wsconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/ephemera-im/ephemera/net/wire"
)

// Path is the relay's WebSocket endpoint.
const Path = "/v1/ws"

// Conn is a wire.Conn over a WebSocket. Safe for concurrent WriteFrame and
// Close; ReadFrame must have one caller at a time.
type Conn struct {
	ws *websocket.Conn
}

// New wraps ws and bounds the size of frames it will read.
func New(ws *websocket.Conn, maxFrame int64) *Conn {
	ws.SetReadLimit(maxFrame)
	return &Conn{ws: ws}
}

// ReadFrame reads one binary message. A text message is an error.
func (c *Conn) ReadFrame(ctx context.Context) ([]byte, error) {
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		if cs := websocket.CloseStatus(err); cs != -1 {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return nil, &wire.CloseError{Reason: fmt.Sprintf("%d %s", ce.Code, ce.Reason)}
			}
		}
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("%w: text message, want binary", wire.ErrMalformed)
	}
	return b, nil
}

// WriteFrame writes one binary message.
func (c *Conn) WriteFrame(ctx context.Context, frame []byte) error {
	return c.ws.Write(ctx, websocket.MessageBinary, frame)
}

// Close sends a normal close with reason and closes the socket.
func (c *Conn) Close(reason string) error {
	return c.CloseWith(websocket.StatusNormalClosure, reason)
}

// CloseWith closes with a specific status code. The reason is cut to the
// 123 bytes a close frame can carry.
func (c *Conn) CloseWith(code websocket.StatusCode, reason string) error {
	if len(reason) > 123 {
		// Cut at a rune boundary: a close reason must be valid UTF-8.
		n := 123
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	err := c.ws.Close(code, reason)
	if err != nil {
		c.ws.CloseNow()
	}
	return err
}

// ErrInsecureURL is returned for a plain ws:// URL to a host that is not a
// loopback address.
var ErrInsecureURL = errors.New("relay URL: plain ws:// is allowed only to loopback addresses; use wss://")

// NormalizeURL checks a relay URL and gives it the /v1/ws path when it has
// none. Accepted schemes are ws and wss (http and https are read as them).
func NormalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// Neither the input nor url's error (which quotes it) goes into
		// the message: it may hold a password and end up in a log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("relay URL is not a valid URL: %v", err)
	}
	if u.User != nil {
		// Redacted: the error may be logged, the password must not be.
		return "", fmt.Errorf("relay URL %q: must not contain a user name or password", u.Redacted())
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("relay URL %q: scheme must be wss:// or ws://", raw)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("relay URL %q: no host", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = Path
	}
	if u.Scheme == "ws" && !IsLoopbackHost(u.Hostname()) {
		return "", fmt.Errorf("%w (got %q)", ErrInsecureURL, raw)
	}
	return u.String(), nil
}

// IsLoopbackHost reports whether host is "localhost" or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
