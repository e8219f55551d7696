package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ephemera-im/ephemera/core/media"
)

func init() {
	register(&command{
		name:    "inspect",
		args:    "FILE [--json]",
		summary: "list the metadata a file carries (location, device, dates, ...) without changing it",
		setFlags: func(fs *flag.FlagSet) {
			fs.Bool("json", false, "print the report as JSON")
		},
		run: runInspect,
	})
	register(&command{
		name:    "sanitize",
		args:    "IN OUT [--json]",
		summary: "write a copy of IN without metadata to OUT and list what was removed",
		setFlags: func(fs *flag.FlagSet) {
			fs.Bool("json", false, "print the report as JSON")
		},
		run: runSanitize,
	})
}

func jsonFlag(inv *invocation) bool {
	return inv.flags.Lookup("json").Value.(flag.Getter).Get().(bool)
}

func runInspect(_ context.Context, inv *invocation) error {
	if len(inv.args) != 1 {
		return usageError("want one FILE, got %d arguments", len(inv.args))
	}
	f, size, err := openSized(inv.args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := media.Inspect(f, size)
	if err != nil {
		return fmt.Errorf("%s: %w", inv.args[0], err)
	}
	return printReport(inv, rep, "found")
}

func runSanitize(_ context.Context, inv *invocation) (err error) {
	if len(inv.args) != 2 {
		return usageError("want IN and OUT, got %d arguments", len(inv.args))
	}
	in, outPath := inv.args[0], inv.args[1]
	f, size, err := openSized(in)
	if err != nil {
		return err
	}
	defer f.Close()
	// Write next to OUT and rename, so OUT never holds a partial copy
	// and IN may be OUT.
	tmp, err := os.CreateTemp(filepath.Dir(outPath), ".ephemera-sanitize-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	rep, err := media.Sanitize(f, size, tmp)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), outPath); err != nil {
		return err
	}
	return printReport(inv, rep, "removed")
}

func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: not a regular file", path)
	}
	return f, st.Size(), nil
}

// printReport writes rep as JSON or as readable lines; verb says what
// happened to the items ("found", "removed").
func printReport(inv *invocation, rep media.Report, verb string) error {
	if jsonFlag(inv) {
		if rep.Items == nil {
			rep.Items = []media.Item{}
		}
		enc := json.NewEncoder(inv.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	w := inv.stdout
	fmt.Fprintf(w, "type: %s\n", rep.Type)
	if rep.Empty() {
		fmt.Fprintf(w, "%s: nothing\n", verb)
	} else {
		fmt.Fprintf(w, "%s:\n", verb)
		printItems(w, rep.Items)
	}
	if len(rep.Kept) > 0 {
		fmt.Fprintln(w, "kept:")
		printItems(w, rep.Kept)
	}
	return nil
}

func printItems(w io.Writer, items []media.Item) {
	for _, it := range items {
		fmt.Fprintf(w, "  %-10s %s\n", it.Category, it.Label)
	}
}
