package main

import (
	"context"
	"fmt"

	"github.com/ephemera-im/ephemera/internal/version"
)

// The version command prints the same line as `ephemera --version` and
// `ephemera-relay --version`, with this program's name; `ephemera-cli
// --version` is the same command (see run).
func init() {
	register(&command{
		name:    "version",
		summary: "Print the version, the Go version and platform, and the commit this binary was built from.",
		run: func(_ context.Context, inv *invocation) error {
			if len(inv.args) > 0 {
				return usageError("version takes no arguments")
			}
			fmt.Fprintln(inv.stdout, version.Line("ephemera-cli"))
			return nil
		},
	})
}
