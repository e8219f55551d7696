package relay

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// lockedLog is a log sink safe for the relay's concurrent goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// failingAppends fails Append, once on is set, with an error whose text
// names the mailbox and quotes the envelope, as a careless store might.
type failingAppends struct {
	store.Store
	on atomic.Bool
}

func (f *failingAppends) Append(ctx context.Context, id wire.MailboxID, env store.Envelope, q store.Quota) (uint64, error) {
	if f.on.Load() {
		return 0, fmt.Errorf("append to %x of %q: %w", id[:], env.Data, errors.New("disk on fire"))
	}
	return f.Store.Append(ctx, id, env, q)
}

// The relay's logs never carry envelope content, tokens or keys, at any
// level, and no mailbox id (not even its short form) at info level and
// above — through registration, sending, delivery, bad frames and store
// failures.
func TestLogsHoldNoSecrets(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var sink lockedLog
			fail := &failingAppends{}
			e := newEnv(t, func(c *Config) {
				c.Logger = slog.New(slog.NewTextHandler(&sink, &slog.HandlerOptions{Level: level}))
				fail.Store = c.Store
				c.Store = fail
			})
			o := newOwner(t)
			tok := wire.Key32{0: 0x5e, 1: 0xc7, 31: 0x42}
			r := e.pipe()
			o.register(r, tokenHash(tok))
			s := e.pipe()
			const secret = "the-secret-envelope-content"
			seq := s.send(o.id, tok, secret)
			r.deliver()
			mustType[*wire.OK](r, &wire.Ack{Mailbox: o.id, Seqs: []uint64{seq}})
			s.wantError(&wire.Send{Mailbox: o.id, SendToken: wire.Key32{9}, Envelope: []byte(secret)}, wire.CodeUnauthorized)
			// A bad frame, then a store that fails under a connection.
			bad := e.pipe()
			bad.conn.WriteFrame(t.Context(), []byte(secret))
			bad.closed()
			fail.on.Store(true)
			s.wantError(&wire.Send{Mailbox: o.id, SendToken: tok, Envelope: []byte(secret)}, wire.CodeInternal)

			logs := sink.String()
			if !strings.Contains(logs, "disk on fire") {
				t.Fatalf("the store failure was not logged; the test would prove nothing:\n%s", logs)
			}
			forbidden := map[string]string{
				"envelope content":    secret,
				"envelope hex":        hex.EncodeToString([]byte(secret)),
				"send token":          hex.EncodeToString(tok[:]),
				"mailbox id":          hex.EncodeToString(o.id[:]),
				"owner key":           hex.EncodeToString(o.pub[:]),
				"send token hash":     hex.EncodeToString(func() []byte { h := tokenHash(tok); return h[:] }()),
				"mailbox id (binary)": string(o.id[:]),
			}
			if level >= slog.LevelInfo {
				forbidden["short mailbox id"] = o.id.String()
			}
			for what, s := range forbidden {
				if strings.Contains(logs, s) {
					t.Errorf("%v logs contain the %s", level, what)
				}
			}
		})
	}
}
