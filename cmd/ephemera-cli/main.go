// Command ephemera-cli is Ephemera's headless client and toolbox.
//
// Commands that need no profile (inspect, sanitize, check-link, preview)
// work on files and URLs alone and never read standard input. The
// messaging commands (init, invite, accept, send, recv, ...) act on the
// profile in --profile DIR.
//
// Flags may come before or after positional arguments:
// `ephemera-cli send Bob "hi" --expire 30s` works. A lone `--` ends the
// flags. Exit status is 0 on success, 1 on an error, 2 on a usage error.
//
// The binary builds with CGO_ENABLED=0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	code := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	atExit()
	os.Exit(code)
}

// atExit runs last; test builds set it (testkdf_tag.go).
var atExit = func() {}

// command is one subcommand. Each lives in its own file and registers
// itself from an init function, so commands can be added independently.
type command struct {
	name    string
	args    string // synopsis of the arguments, for usage
	summary string
	// setFlags declares the command's flags on fs; it may be nil.
	setFlags func(fs *flag.FlagSet)
	// run executes the command with the positional arguments left after
	// flag parsing. An error wrapped with usageError exits with status 2.
	run func(ctx context.Context, inv *invocation) error
}

// invocation is what a command's run function gets.
type invocation struct {
	args   []string // positional arguments
	flags  *flag.FlagSet
	stdout io.Writer
	stderr io.Writer
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("ephemera-cli: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks errors that should print the usage and exit with 2.
var errUsage = errors.New("usage")

// usageError returns an error that makes run print the command's usage.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args = append([]string{"version"}, args[1:]...)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ephemera-cli: unknown command %q\n", args[0])
		printUsage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("ephemera-cli "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ephemera-cli %s %s\n\n%s\n", c.name, c.args, c.summary)
		if hasFlags(fs) {
			fmt.Fprintln(stderr, "\nflags:")
			fs.PrintDefaults()
		}
	}
	if c.setFlags != nil {
		c.setFlags(fs)
	}
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		// The flag package has already printed the problem and the usage.
		return 2
	}
	err = c.run(ctx, &invocation{args: pos, flags: fs, stdout: stdout, stderr: stderr})
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "ephemera-cli %s: %s\n", c.name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		fs.Usage()
		return 2
	default:
		fmt.Fprintf(stderr, "ephemera-cli %s: %v\n", c.name, err)
		return 1
	}
}

// parseInterspersed parses flags anywhere among args and returns the
// positional arguments in order. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// fs.Parse stops at the first non-flag or after "--"; tell them
		// apart by whether the argument just before rest was "--".
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: ephemera-cli COMMAND [ARGS] [FLAGS]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `ephemera-cli COMMAND -h` for a command's flags.")
}
