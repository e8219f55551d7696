// Command ephemera is the Ephemera desktop messenger.
//
// Flags: --profile DIR (the profile folder, default the system's, see
// messenger.DefaultDir), --relay URL (the relay proposed on first run;
// env EPHEMERA_RELAY_URL; empty proposes the embedded local relay),
// --demo (two profiles that know each other, in two windows, on an
// embedded relay: make demo), --version.
//
// For tests and measurements (main_test.go, scripts/perf-gui.sh):
// EPHEMERA_DUMP=path makes the app write a text dump of its windows
// (gui.DumpTree) to path on SIGUSR1 (Unix only: Windows has no such
// signal, and the app logs that the dump is off); EPHEMERA_FIRST_FRAME=1 prints
// first-frame-ms=N, the time from process start to the window's first
// paint, to stderr, and EPHEMERA_EXIT_AFTER_FIRST_FRAME=1 exits then.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/container"

	"github.com/ephemera-im/ephemera/core/messenger"
	"github.com/ephemera-im/ephemera/gui"
	"github.com/ephemera-im/ephemera/internal/firstframe"
	"github.com/ephemera-im/ephemera/internal/version"
)

func main() {
	profile := flag.String("profile", "", "profile folder (default: the system's, e.g. ~/.local/share/ephemera)")
	relay := flag.String("relay", os.Getenv("EPHEMERA_RELAY_URL"), "relay proposed on first run (wss://…); empty proposes a local relay (env EPHEMERA_RELAY_URL)")
	demo := flag.Bool("demo", false, "start two profiles that know each other, in two windows, on a local relay")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Line("ephemera"))
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	a := app.NewWithID("im.ephemera.app")
	a.SetIcon(gui.Icon)
	var uis []*gui.UI
	if *demo {
		var cleanup func()
		var err error
		uis, cleanup, err = startDemo(a, log)
		if err != nil {
			log.Error("cannot start the demo", "err", err)
			os.Exit(1)
		}
		defer cleanup()
	} else {
		dir := *profile
		if dir == "" {
			var err error
			if dir, err = messenger.DefaultDir(); err != nil {
				log.Error("no profile folder", "err", err)
				os.Exit(1)
			}
		}
		uis = []*gui.UI{gui.New(a, gui.Options{Dir: dir, RelayURL: *relay, Logger: log})}
	}
	if os.Getenv("EPHEMERA_FIRST_FRAME") == "1" {
		reportFirstFrame(uis[0].Window(), os.Getenv("EPHEMERA_EXIT_AFTER_FIRST_FRAME") == "1")
	}
	handleSignals(a, uis, os.Getenv("EPHEMERA_DUMP"), log)
	for _, u := range uis[1:] {
		u.Window().Show()
	}
	uis[0].Window().ShowAndRun()
	for _, u := range uis {
		u.Close() // a no-op unless the app quit another way than by the windows
	}
}

// reportFirstFrame stacks firstframe.Probe over the window's content,
// keeping the focus (the unlock screen's passphrase entry has it).
func reportFirstFrame(w fyne.Window, exit bool) {
	probe := firstframe.Probe(firstframe.Reporter(exit))
	focused := w.Canvas().Focused()
	w.SetContent(container.NewStack(w.Content(), probe))
	if focused != nil {
		w.Canvas().Focus(focused)
	}
}

// handleSignals: SIGINT and SIGTERM (on Windows, Ctrl+C and the console's
// close) lock every profile and quit; where the system has SIGUSR1
// (dump_unix.go), it writes the dump of the windows to dumpPath, if set.
func handleSignals(a fyne.App, uis []*gui.UI, dumpPath string, log *slog.Logger) {
	quit := make(chan os.Signal, 1)
	signal.Notify(quit, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-quit
		fyne.Do(func() {
			for _, u := range uis {
				u.Close()
			}
			a.Quit()
		})
	}()
	if dumpPath != "" {
		dumpOnSignal(uis, dumpPath, log)
	}
}

// dumpNow writes the dump of the windows to path, from any goroutine but
// the Fyne one.
func dumpNow(uis []*gui.UI, path string, log *slog.Logger) {
	var b bytes.Buffer
	fyne.DoAndWait(func() { dumpWindows(&b, uis) })
	if err := writeFileAtomic(path, b.Bytes()); err != nil {
		log.Error("cannot write the dump", "err", err)
	}
}

// dumpWindows writes each window's title and screen, its dialogs and pop-ups
// (overlays) and its content.
func dumpWindows(b *bytes.Buffer, uis []*gui.UI) {
	for _, u := range uis {
		w := u.Window()
		fmt.Fprintf(b, "window %q screen=%s\n", w.Title(), u.Screen())
		for _, o := range w.Canvas().Overlays().List() {
			b.WriteString("overlay\n")
			gui.DumpTree(b, o)
		}
		b.WriteString("content\n")
		gui.DumpTree(b, w.Content())
	}
}

// writeFileAtomic replaces path with data: readers see the old file or
// the new one, never a part.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// demoMessages is the conversation make demo opens with; the timer
// makes that message disappear in ten minutes.
var demoMessages = []struct {
	fromAlice bool
	text      string
	expire    time.Duration
}{
	{true, "Hi Bob! This is Ephemera: end-to-end encrypted, no phone number, no e-mail.", 0},
	{false, "Hi Alice! Nice — and the relay in between cannot read any of this.", 0},
	{true, "Try the timer in the header: messages can disappear after 30 s, an hour, a week…", 0},
	{false, "This one disappears ten minutes after I send it.", 10 * time.Minute},
	{true, "Drop a photo on the window: its location and camera details are removed before it leaves.", 0},
	{false, "And links show where they really go. Have fun!", 0},
}

// startDemo makes two fresh profiles, alice (with the embedded relay) and
// bob (on alice's relay), in temporary folders; makes them contacts;
// exchanges a few messages; and opens a window for each. cleanup removes
// the folders once the windows are closed.
func startDemo(a fyne.App, log *slog.Logger) (uis []*gui.UI, cleanup func(), err error) {
	root, err := os.MkdirTemp("", "ephemera-demo-")
	if err != nil {
		return nil, nil, err
	}
	var opened []*messenger.Messenger
	cleanup = func() {
		for _, m := range opened {
			m.Close()
		}
		os.RemoveAll(root)
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	create := func(name, relay string) (*messenger.Messenger, error) {
		m, err := messenger.Create(messenger.Config{
			Dir: filepath.Join(root, name), Passphrase: []byte("demo"),
			Pseudonym: name, RelayURL: relay, Logger: log.With("profile", name),
		})
		if err == nil {
			opened = append(opened, m)
		}
		return m, err
	}
	alice, err := create("alice", "")
	if err != nil {
		return nil, nil, err
	}
	bob, err := create("bob", alice.RelayURL())
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pair(ctx, alice, bob); err != nil {
		return nil, nil, err
	}
	for _, msg := range demoMessages {
		from, to := bob, alice
		if msg.fromAlice {
			from, to = alice, bob
		}
		if _, err := from.SendText(ctx, to.Pseudonym(), msg.text, messenger.SendOptions{Expire: msg.expire}); err != nil {
			return nil, nil, fmt.Errorf("%s sends: %w", from.Pseudonym(), err)
		}
		// In order: each side's view of the conversation matches.
		if err := syncAll(ctx, from, to); err != nil {
			return nil, nil, err
		}
	}
	for _, m := range []*messenger.Messenger{alice, bob} {
		uis = append(uis, gui.New(a, gui.Options{Messenger: m, Title: "Ephemera — " + m.Pseudonym(), Logger: log}))
	}
	opened = nil // the windows own the profiles now
	return uis, func() { os.RemoveAll(root) }, nil
}

// pair makes a and b contacts: b accepts a's invite, and both sync until
// each sees the other as an answered contact.
func pair(ctx context.Context, a, b *messenger.Messenger) error {
	inv, err := a.CreateInvite(ctx, messenger.InviteOptions{OneTime: true})
	if err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	if _, err := b.AcceptInvite(ctx, inv.Code); err != nil {
		return fmt.Errorf("accept invite: %w", err)
	}
	for ctx.Err() == nil {
		if err := syncAll(ctx, b, a); err != nil {
			return err
		}
		ab, errA := a.FindContact(b.Pseudonym())
		ba, errB := b.FindContact(a.Pseudonym())
		if errA == nil && errB == nil && !ab.Pending && !ba.Pending {
			return nil
		}
	}
	return fmt.Errorf("%s and %s did not become contacts: %w", a.Pseudonym(), b.Pseudonym(), ctx.Err())
}

func syncAll(ctx context.Context, ms ...*messenger.Messenger) error {
	for _, m := range ms {
		if err := m.Sync(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("%s: sync: %w", m.Pseudonym(), err)
		}
	}
	return nil
}
