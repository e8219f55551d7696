package messenger

import (
	"context"
	"io"
	"log/slog"

	"github.com/ephemera-im/ephemera/net/relay/embedded"
)

// startEmbedded starts the in-process relay with its data in dir and
// returns it with its URL. It listens on embedded.DefaultAddr
// (127.0.0.1:7867), or on a free loopback port when that one is taken.
func startEmbedded(ctx context.Context, dir string, log *slog.Logger) (io.Closer, string, error) {
	r, err := embedded.Start(ctx, embedded.Options{DataDir: dir, Logger: log.With("component", "relay")})
	if err != nil {
		return nil, "", err
	}
	return r, r.URL(), nil
}
