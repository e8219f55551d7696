package gui

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/media"
	"github.com/ephemera-im/ephemera/core/messenger"
)

// The drop handler against the real messenger: alice drops files on her
// window for bob, both on alice's embedded relay.
func TestDropHandler(t *testing.T) {
	tmp := t.TempDir() // where previews must never go
	t.Setenv("TMPDIR", tmp)
	alice, bob, bobID, aliceID := ftPair(t)
	bobEvents := bob.Subscribe(1 << 10)
	t.Cleanup(bobEvents.Close)

	test.NewTempApp(t)
	win := test.NewTempWindow(t, widget.NewLabel("conversation"))
	win.Resize(fyne.NewSize(900, 700))
	var errs []error
	open := bobID
	d := &dropHandler{
		win:     win,
		send:    alice,
		contact: func() string { return open },
		opts:    func() messenger.SendOptions { return messenger.SendOptions{} },
		onError: func(err error) { errs = append(errs, err) },
	}
	d.install() // the test window ignores it; it must not panic
	dir := t.TempDir()
	photo := ftExifJPEG(t, dir, "holiday.jpg")

	// aliceFiles counts the file messages in alice's conversation with bob.
	aliceFiles := func() int {
		t.Helper()
		h, err := alice.History(bobID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range h {
			if m.Kind == messenger.KindFile {
				n++
			}
		}
		return n
	}

	t.Run("image with GPS shows what is removed and sends a clean file", func(t *testing.T) {
		d.handleDrop([]string{photo})
		d.work.Wait()
		dlg := ftTop(t, win)
		text := strings.Join(ftTexts(dlg), "\n")
		st, _ := os.Stat(photo)
		for _, want := range []string{"Before sending", "holiday.jpg", "JPEG image", formatSize(st.Size()),
			"Location", "GPS position 52.52 N 13.40 E", "Device", "Camera: ExampleCam X-100", "As your contact will see it"} {
			if !strings.Contains(text, want) {
				t.Errorf("dialog lacks %q; it shows:\n%s", want, text)
			}
		}
		imgs := ftImages(dlg)
		if len(imgs) != 1 || imgs[0].Image == nil {
			t.Fatalf("dialog has %d images, want the cleaned preview", len(imgs))
		}
		if got := imgs[0].Image.Bounds().Size(); got != image.Pt(64, 48) {
			t.Errorf("preview is %v, want 64×48", got)
		}
		if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
			t.Errorf("the preview left files in the temporary folder: %v", entries)
		}
		btns := ftButtons(dlg)
		if btns["Send as is"] != nil || btns["Send"] == nil || btns["Cancel"] == nil {
			t.Fatalf("buttons %v, want Send and Cancel", ftKeys(btns))
		}
		ftTap(t, btns, "Send")
		d.work.Wait()
		if len(errs) != 0 {
			t.Fatalf("sending failed: %v", errs)
		}
		if top := win.Canvas().Overlays().Top(); top != nil {
			t.Errorf("dialog still shown after Send: %v", ftTexts(top))
		}
		if n := aliceFiles(); n != 1 {
			t.Fatalf("alice has %d file messages, want 1", n)
		}

		msg := ftWaitFile(t, bobEvents)
		if msg.Conversation != aliceID || msg.File.Name != "holiday.jpg" || msg.File.Type != string(media.JPEG) {
			t.Errorf("bob got %+v, want holiday.jpg from alice", *msg.File)
		}
		att, _, err := bob.OpenFile(msg.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer att.Close()
		rep, err := media.Inspect(att, att.Size())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range rep.Items {
			if it.Category == media.CatLocation || it.Category == media.CatDevice {
				t.Errorf("bob's copy still carries %q", it.Label)
			}
		}
		if _, err := jpeg.Decode(io.NewSectionReader(att, 0, att.Size())); err != nil {
			t.Errorf("bob's copy is not a JPEG any more: %v", err)
		}

		// Bob's card for it: Save, the thumbnail from his vault, saving
		// through the path Fyne's save dialog creates.
		var saved string
		c := newFileCard(msg, fileActions{save: func(id string) { saved = id }}).(*fileCard)
		cw := test.NewTempWindow(t, c)
		cw.Resize(fyne.NewSize(500, 300))
		<-c.loadThumb(func() (io.ReadCloser, error) {
			a, _, err := bob.OpenFile(msg.ID)
			return a, err
		}, nil)
		thumbs := ftImages(c)
		if len(thumbs) != 1 || thumbs[0].Image.Bounds().Size() != image.Pt(64, 48) {
			t.Errorf("card shows %d images, want the 64×48 thumbnail", len(thumbs))
		}
		ftTap(t, ftButtons(c), "Save")
		if saved != msg.ID {
			t.Errorf("Save called save(%q), want %q", saved, msg.ID)
		}
		out := filepath.Join(t.TempDir(), "saved.jpg")
		w, err := storage.Writer(storage.NewFileURI(out)) // what the save dialog hands over
		if err != nil {
			t.Fatal(err)
		}
		<-saveChosen(cw, w, nil, func(p string) error { return bob.SaveFile(msg.ID, p) })
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(got)) != att.Size() || len(got) == 0 {
			t.Errorf("saved %d bytes, want %d", len(got), att.Size())
		}
		if top := cw.Canvas().Overlays().Top(); top != nil {
			t.Errorf("saving showed an error: %v", ftTexts(top))
		}
	})

	t.Run("folder is refused", func(t *testing.T) {
		before := aliceFiles()
		d.onDropped(fyne.Position{}, []fyne.URI{storage.NewFileURI(dir)})
		d.work.Wait()
		dlg := ftTop(t, win)
		text := strings.Join(ftTexts(dlg), "\n")
		if !strings.Contains(text, "Folders cannot be sent") || !strings.Contains(text, filepath.Base(dir)) {
			t.Errorf("dialog shows %q, want the folder refusal naming it", text)
		}
		btns := ftButtons(dlg)
		if btns["Send"] != nil || btns["Send as is"] != nil {
			t.Errorf("folder dialog offers %v", ftKeys(btns))
		}
		ftTap(t, btns, "OK")
		d.work.Wait()
		if n := aliceFiles(); n != before {
			t.Errorf("alice has %d file messages after a folder drop, want %d", n, before)
		}
		ftNoDialog(t, win)
	})

	t.Run("unsupported type offers only send as is", func(t *testing.T) {
		tiff := filepath.Join(dir, "scan.tif")
		ftWrite(t, tiff, ftTIFF())
		before := aliceFiles()
		d.handleDrop([]string{tiff})
		d.work.Wait()
		dlg := ftTop(t, win)
		text := strings.Join(ftTexts(dlg), "\n")
		for _, want := range []string{"This file cannot be cleaned", "scan.tif", "TIFF image (image/tiff)", "cannot remove metadata"} {
			if !strings.Contains(text, want) {
				t.Errorf("dialog lacks %q; it shows:\n%s", want, text)
			}
		}
		btns := ftButtons(dlg)
		if btns["Send"] != nil || btns["Send as is"] == nil || btns["Cancel"] == nil {
			t.Fatalf("buttons %v, want Send as is and Cancel only", ftKeys(btns))
		}
		ftTap(t, btns, "Send as is")
		d.work.Wait()
		if len(errs) != 0 {
			t.Fatalf("sending as is failed: %v", errs)
		}
		if n := aliceFiles(); n != before+1 {
			t.Errorf("alice has %d file messages, want %d", n, before+1)
		}
		msg := ftWaitFile(t, bobEvents)
		if msg.File.Name != "scan.tif" {
			t.Errorf("bob got %q, want scan.tif", msg.File.Name)
		}
	})

	t.Run("random bytes are unsupported too", func(t *testing.T) {
		p := filepath.Join(dir, "blob.bin")
		junk := make([]byte, 4096)
		rand.NewChaCha8([32]byte{1}).Read(junk)
		ftWrite(t, p, junk)
		d.handleDrop([]string{p})
		d.work.Wait()
		dlg := ftTop(t, win)
		if text := strings.Join(ftTexts(dlg), "\n"); !strings.Contains(text, "Unknown type") {
			t.Errorf("dialog does not name the type: %s", text)
		}
		btns := ftButtons(dlg)
		if btns["Send"] != nil || btns["Send as is"] == nil {
			t.Fatalf("buttons %v, want Send as is and no Send", ftKeys(btns))
		}
		before := aliceFiles()
		ftTap(t, btns, "Cancel")
		d.work.Wait()
		if n := aliceFiles(); n != before {
			t.Errorf("Cancel sent a file: %d messages, want %d", n, before)
		}
		ftNoDialog(t, win)
	})

	t.Run("cancel sends nothing", func(t *testing.T) {
		before := aliceFiles()
		d.handleDrop([]string{photo})
		d.work.Wait()
		ftTap(t, ftButtons(ftTop(t, win)), "Cancel")
		d.work.Wait()
		if n := aliceFiles(); n != before {
			t.Errorf("Cancel sent a file: %d messages, want %d", n, before)
		}
		ftNoDialog(t, win)
	})

	t.Run("several files come one dialog after another", func(t *testing.T) {
		second := ftExifJPEG(t, t.TempDir(), "second.jpg")
		d.handleDrop([]string{photo, second})
		d.work.Wait()
		if n := len(win.Canvas().Overlays().List()); n != 1 {
			t.Fatalf("%d dialogs at once, want 1", n)
		}
		first := strings.Join(ftTexts(ftTop(t, win)), "\n")
		if !strings.Contains(first, "holiday.jpg") {
			t.Fatalf("first dialog is not for holiday.jpg:\n%s", first)
		}
		ftTap(t, ftButtons(ftTop(t, win)), "Cancel")
		d.work.Wait()
		next := strings.Join(ftTexts(ftTop(t, win)), "\n")
		if !strings.Contains(next, "second.jpg") {
			t.Fatalf("second dialog is not for second.jpg:\n%s", next)
		}
		ftTap(t, ftButtons(ftTop(t, win)), "Cancel")
		d.work.Wait()
		ftNoDialog(t, win)
	})

	t.Run("no open conversation", func(t *testing.T) {
		open = ""
		defer func() { open = bobID }()
		d.handleDrop([]string{photo})
		d.work.Wait()
		dlg := ftTop(t, win)
		if text := strings.Join(ftTexts(dlg), "\n"); !strings.Contains(text, "Open a conversation") {
			t.Errorf("dialog shows %q, want to open a conversation", text)
		}
		if ftButtons(dlg)["Send"] != nil {
			t.Error("offers Send without a conversation")
		}
		ftTap(t, ftButtons(dlg), "OK")
		ftNoDialog(t, win)
		if len(d.queue) != 0 || d.busy {
			t.Errorf("queue %v busy %v, want nothing pending", d.queue, d.busy)
		}
	})

	t.Run("send errors go to onError", func(t *testing.T) {
		open = "no such contact"
		defer func() { open = bobID }()
		errs = nil
		d.handleDrop([]string{photo})
		d.work.Wait()
		ftTap(t, ftButtons(ftTop(t, win)), "Send")
		d.work.Wait()
		if len(errs) != 1 || !errors.Is(errs[0], messenger.ErrUnknownContact) {
			t.Errorf("onError got %v, want ErrUnknownContact", errs)
		}
		errs = nil
	})

	t.Run("attach button's choice goes through the same dialog", func(t *testing.T) {
		rc, err := storage.Reader(storage.NewFileURI(photo))
		if err != nil {
			t.Fatal(err)
		}
		d.onChosen(rc, nil)
		d.work.Wait()
		if text := strings.Join(ftTexts(ftTop(t, win)), "\n"); !strings.Contains(text, "GPS position") {
			t.Errorf("chosen file's dialog shows:\n%s", text)
		}
		ftTap(t, ftButtons(ftTop(t, win)), "Cancel")
		d.work.Wait()
		d.onChosen(nil, nil) // the user cancelled the file dialog
		d.work.Wait()
		ftNoDialog(t, win)
	})

	t.Run("links are not files", func(t *testing.T) {
		u, _ := storage.ParseURI("https://example.com/a.jpg")
		d.onDropped(fyne.Position{}, []fyne.URI{u})
		d.work.Wait()
		if text := strings.Join(ftTexts(ftTop(t, win)), "\n"); !strings.Contains(text, "Only files from this computer") {
			t.Errorf("dialog shows %q, want the refusal", text)
		}
	})
}

func TestFileCard(t *testing.T) {
	test.NewTempApp(t)
	var saved, downloaded, cancelled []string
	act := fileActions{
		save:     func(id string) { saved = append(saved, id) },
		download: func(id string) { downloaded = append(downloaded, id) },
		cancel:   func(id string) { cancelled = append(cancelled, id) },
	}
	msg := messenger.Message{ID: "m1", Kind: messenger.KindFile, From: "c1", State: messenger.StateReceived,
		File: &messenger.FileInfo{Name: "report.pdf", Size: 1_536_000, Type: string(media.PDF), Have: true}}
	c := newFileCard(msg, act).(*fileCard)
	w := test.NewTempWindow(t, c)
	w.Resize(fyne.NewSize(500, 200))

	text := strings.Join(ftTexts(c), "\n")
	for _, want := range []string{"report.pdf", "1.5 MB", "PDF document"} {
		if !strings.Contains(text, want) {
			t.Errorf("card lacks %q; it shows:\n%s", want, text)
		}
	}
	btns := ftButtons(c)
	if ftShowsBar(c) {
		t.Error("a progress bar with no transfer")
	}
	if btns["Save"] == nil || btns["Download"] != nil || btns["Cancel"] != nil {
		t.Fatalf("buttons of a file we have: %v, want Save only", ftKeys(btns))
	}
	ftTap(t, btns, "Save")
	if len(saved) != 1 || saved[0] != "m1" {
		t.Errorf("save got %v, want [m1]", saved)
	}

	// A received file not downloaded yet: Download, then progress.
	msg2 := messenger.Message{ID: "m2", Kind: messenger.KindFile, State: messenger.StateReceived,
		File: &messenger.FileInfo{Name: "big.mp4", Size: 200_000_000, Type: string(media.MP4)}}
	c.update(msg2)
	btns = ftButtons(c)
	if btns["Download"] == nil || btns["Save"] != nil {
		t.Fatalf("buttons of a file we lack: %v, want Download", ftKeys(btns))
	}
	ftTap(t, btns, "Download")
	if len(downloaded) != 1 || downloaded[0] != "m2" {
		t.Errorf("download got %v, want [m2]", downloaded)
	}
	if !ftShowsBar(c) || ftButtons(c)["Download"] != nil || c.bar.Value != 0 || c.bar.Max != 200_000_000 {
		t.Errorf("after Download: bar shown %v at %v of %v, want an empty bar of 2e8 and no Download button", ftShowsBar(c), c.bar.Value, c.bar.Max)
	}
	c.setProgress(50_000_000, 200_000_000)
	if got, want := c.bar.Value, 50_000_000.0; got != want || c.bar.Max != 200_000_000 {
		t.Errorf("bar %v of %v, want %v of 2e8", got, c.bar.Max, want)
	}
	if !strings.Contains(strings.Join(ftTexts(c), "\n"), "50 MB of 200 MB") {
		t.Errorf("progress text missing: %v", ftTexts(c))
	}
	ftTap(t, ftButtons(c), "Cancel")
	if len(cancelled) != 1 || cancelled[0] != "m2" {
		t.Errorf("cancel got %v, want [m2]", cancelled)
	}
	c.setProgress(120_000_000, 200_000_000)
	if got := c.bar.Value; got != 120_000_000 {
		t.Errorf("bar %v, want 1.2e8", got)
	}
	// MessageUpdated with the same message keeps the progress.
	c.update(msg2)
	if !ftShowsBar(c) || c.bar.Value != 120_000_000 {
		t.Error("update of the same message lost the progress")
	}
	c.setProgress(200_000_000, 200_000_000)
	msg2.File.Have = true
	c.update(msg2)
	btns = ftButtons(c)
	if ftShowsBar(c) || btns["Save"] == nil || btns["Download"] != nil {
		t.Errorf("after the download: bar visible %v, buttons %v, want Save only", ftShowsBar(c), ftKeys(btns))
	}

	// Reused for another message: no progress carried over.
	c.setProgress(1, 10)
	c.update(msg)
	if ftShowsBar(c) {
		t.Error("progress carried over to another message")
	}

	// Without a cancel action the bar shows without Cancel.
	c2 := newFileCard(msg2, fileActions{save: act.save}).(*fileCard)
	test.NewTempWindow(t, c2)
	c2.setProgress(1, 10)
	if btns := ftButtons(c2); btns["Cancel"] != nil || !ftShowsBar(c2) {
		t.Errorf("nil cancel: buttons %v, bar visible %v; want no Cancel, a bar", ftKeys(btns), ftShowsBar(c2))
	}

	// A download given up says why, hides the bar and offers Download.
	msg4 := messenger.Message{ID: "m4", Kind: messenger.KindFile, State: messenger.StateReceived,
		File: &messenger.FileInfo{Name: "forged.bin", Size: 1000}}
	c.update(msg4)
	c.setProgress(10, 1000)
	msg4.File.Failed = messenger.FileDamaged
	c.update(msg4)
	btns = ftButtons(c)
	if ftShowsBar(c) || btns["Download"] == nil || !c.failed.Visible() || !strings.Contains(c.failed.Text, "damaged") {
		t.Errorf("failed download: bar %v, buttons %v, reason shown %v %q; want no bar, Download, the reason",
			ftShowsBar(c), ftKeys(btns), c.failed.Visible(), c.failed.Text)
	}
	for _, f := range []messenger.FileFailure{messenger.FileWrongSize, messenger.FileGone, "future"} {
		if failureText(f) == "" {
			t.Errorf("no words for failure %q", f)
		}
	}
	c.update(msg)
	if c.failed.Visible() {
		t.Error("a failure shown on a file we have")
	}

	// A contact's name cannot hide its extension.
	evil := messenger.Message{ID: "m3", File: &messenger.FileInfo{Name: "photo\u202egpj.exe", Size: 10}}
	c.update(evil)
	if strings.ContainsRune(c.name.Text, '\u202e') {
		t.Errorf("name shown with a bidi override: %q", c.name.Text)
	}
}

func TestImageThumb(t *testing.T) {
	t.Run("refuses a huge image from its header", func(t *testing.T) {
		r := &ftCountingReader{r: io.MultiReader(bytes.NewReader(ftPNGHeader(50000, 50000)), ftZeros{})}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := imageThumb(r, fyne.NewSize(200, 200))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, media.ErrTooLarge) {
			t.Fatalf("got %v, want ErrTooLarge", err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("allocated %d bytes for a refused image, want under 1 MiB", alloc)
		}
		if r.n > 4096 {
			t.Errorf("read %d bytes, want only the header", r.n)
		}
	})
	t.Run("scales a large image down", func(t *testing.T) {
		var buf bytes.Buffer
		if err := png.Encode(&buf, ftGradient(1600, 800)); err != nil {
			t.Fatal(err)
		}
		o, err := imageThumb(&buf, fyne.NewSize(200, 200))
		if err != nil {
			t.Fatal(err)
		}
		img := o.(*canvas.Image)
		if got, want := img.Image.Bounds().Size(), image.Pt(400, 200); got != want {
			t.Errorf("kept %v pixels, want %v (2 per unit)", got, want)
		}
		if got, want := img.MinSize(), fyne.NewSize(200, 100); got != want {
			t.Errorf("min size %v, want %v", got, want)
		}
	})
	t.Run("garbage is an error", func(t *testing.T) {
		if _, err := imageThumb(strings.NewReader("not an image"), fyne.NewSize(100, 100)); err == nil {
			t.Error("no error for garbage")
		}
	})
}

func TestSaveChosenKeepsAnotherFile(t *testing.T) {
	test.NewTempApp(t)
	win := test.NewTempWindow(t, widget.NewLabel(""))
	win.Resize(fyne.NewSize(600, 400))
	p := filepath.Join(t.TempDir(), "notes.txt")
	w, err := storage.Writer(storage.NewFileURI(p))
	if err != nil {
		t.Fatal(err)
	}
	// Something else writes the file after the dialog created it.
	if err := os.WriteFile(p, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	<-saveChosen(win, w, nil, func(path string) error {
		if _, err := os.Stat(path); err == nil {
			return errors.New("refused: " + filepath.Base(path) + " exists")
		}
		return os.WriteFile(path, []byte("new"), 0o600)
	})
	if got, _ := os.ReadFile(p); string(got) != "keep me" {
		t.Errorf("file now %q, want it kept", got)
	}
	if text := strings.Join(ftTexts(ftTop(t, win)), "\n"); !strings.Contains(text, "exists") {
		t.Errorf("error dialog shows %q, want the refusal", text)
	}
}

func TestNamesFromContacts(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"photo.jpg", "photo.jpg"},
		{"../../.bashrc", "_.._.bashrc"},
		{".hidden", "hidden"},
		{`C:\Windows\evil.dll`, "C__Windows_evil.dll"},
		{"photo\u202egpj.exe", "photogpj.exe"},
		{"CON.txt", "_CON.txt"},
		{"...", "file"},
		{"", "file"},
	} {
		if got := saveName(c.in); got != c.want {
			t.Errorf("saveName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 bytes"}, {1, "1 byte"}, {999, "999 bytes"}, {1000, "1.0 kB"}, {1_536_000, "1.5 MB"}, {23_400_000, "23 MB"}, {4 << 30, "4.3 GB"}} {
		if got := formatSize(c.n); got != c.want {
			t.Errorf("formatSize(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// ftPair makes alice (with an embedded relay) and bob (on alice's relay)
// contacts of each other; bobID is bob's id at alice, aliceID alice's at bob.
func ftPair(t *testing.T) (alice, bob *messenger.Messenger, bobID, aliceID string) {
	t.Helper()
	mk := func(name, relay string) *messenger.Messenger {
		m, err := messenger.Create(messenger.Config{Dir: filepath.Join(t.TempDir(), name),
			Passphrase: []byte("correct horse battery staple"), Pseudonym: name, RelayURL: relay,
			InsecureTestKDF: true, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	alice = mk("alice", "")
	bob = mk("bob", alice.RelayURL())
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	inv, err := alice.CreateInvite(ctx, messenger.InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := bob.AcceptInvite(ctx, inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*messenger.Messenger{bob, alice, bob, alice} {
		if err := m.Sync(ctx, 200*time.Millisecond); err != nil {
			t.Fatalf("%s: sync: %v", m.Pseudonym(), err)
		}
	}
	b, err := alice.FindContact("bob")
	if err != nil {
		t.Fatalf("alice does not know bob: %v", err)
	}
	if a, err = bob.FindContact(a.ID); err != nil || a.Pending || b.Pending {
		t.Fatalf("pairing incomplete: bob sees %+v (%v), alice sees %+v", a, err, b)
	}
	return alice, bob, b.ID, a.ID
}

// ftWaitFile waits for a file message to arrive and be downloaded.
func ftWaitFile(t *testing.T, sub *messenger.Subscription) messenger.Message {
	t.Helper()
	timeout := time.After(60 * time.Second)
	added := ""
	for {
		select {
		case e, ok := <-sub.Events():
			if !ok {
				t.Fatal("subscription closed")
			}
			switch e := e.(type) {
			case messenger.MessageAdded:
				if e.Message.Kind == messenger.KindFile {
					added = e.Message.ID
					if e.Message.File != nil && e.Message.File.Have {
						return e.Message
					}
				}
			case messenger.MessageUpdated:
				if e.Message.ID == added && e.Message.File != nil && e.Message.File.Have {
					return e.Message
				}
			}
		case <-timeout:
			t.Fatalf("no downloaded file message (added %q)", added)
		}
	}
}

// ftExifJPEG writes a 64×48 JPEG named name in dir and has exiftool add a
// GPS position and a camera.
func ftExifJPEG(t *testing.T, dir, name string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, ftGradient(64, 48), nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	ftWrite(t, p, buf.Bytes())
	exiftool, err := exec.LookPath("exiftool")
	if err != nil {
		t.Fatalf("exiftool not found (%v): run scripts/install-deps.sh test", err)
	}
	out, err := exec.Command(exiftool, "-q", "-overwrite_original", "-Make=ExampleCam", "-Model=X-100",
		"-GPSLatitude=52.52", "-GPSLatitudeRef=N", "-GPSLongitude=13.40", "-GPSLongitudeRef=E", p).CombinedOutput()
	if err != nil {
		t.Fatalf("exiftool: %v\n%s", err, out)
	}
	// The input must carry what the test looks for.
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	rep, err := media.Inspect(f, st.Size())
	if err != nil || len(rep.Items) < 2 {
		t.Fatalf("test image carries %v (%v), want GPS and camera", rep.Items, err)
	}
	return p
}

func ftGradient(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return img
}

// ftTIFF is a minimal little-endian TIFF (one 1×1 grey strip).
func ftTIFF() []byte {
	le := binary.LittleEndian
	b := []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
	entries := [][3]uint32{ // tag, type<<16|count, value
		{256, 3<<16 | 1, 1}, // width
		{257, 3<<16 | 1, 1}, // height
		{258, 3<<16 | 1, 8}, // bits per sample
		{259, 3<<16 | 1, 1}, // no compression
		{262, 3<<16 | 1, 1}, // black is zero
		{273, 4<<16 | 1, 0}, // strip offset, set below
		{277, 3<<16 | 1, 1}, // samples per pixel
		{278, 3<<16 | 1, 1}, // rows per strip
		{279, 4<<16 | 1, 1}, // strip byte count
	}
	b = le.AppendUint16(b, uint16(len(entries)))
	dataOff := uint32(8 + 2 + 12*len(entries) + 4)
	for _, e := range entries {
		v := e[2]
		if e[0] == 273 {
			v = dataOff
		}
		b = le.AppendUint16(b, uint16(e[0]))
		b = le.AppendUint16(b, uint16(e[1]>>16))
		b = le.AppendUint32(b, e[1]&0xffff)
		b = le.AppendUint32(b, v)
	}
	b = le.AppendUint32(b, 0) // no next IFD
	return append(b, 0x80)
}

// ftPNGHeader is a PNG signature and IHDR chunk declaring w×h RGBA pixels.
func ftPNGHeader(w, h uint32) []byte {
	be := binary.BigEndian
	b := []byte("\x89PNG\r\n\x1a\n")
	chunk := []byte("IHDR")
	chunk = be.AppendUint32(chunk, w)
	chunk = be.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 6, 0, 0, 0) // 8-bit RGBA, no interlace
	b = be.AppendUint32(b, uint32(len(chunk)-4))
	b = append(b, chunk...)
	return be.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

type ftZeros struct{}

func (ftZeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type ftCountingReader struct {
	r io.Reader
	n int
}

func (c *ftCountingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func ftWrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// ftTop returns the topmost overlay (dialog) of win, failing without one.
func ftTop(t *testing.T, win fyne.Window) fyne.CanvasObject {
	t.Helper()
	top := win.Canvas().Overlays().Top()
	if top == nil {
		t.Fatal("no dialog shown")
	}
	return top
}

func ftNoDialog(t *testing.T, win fyne.Window) {
	t.Helper()
	if top := win.Canvas().Overlays().Top(); top != nil {
		t.Errorf("a dialog is still shown: %v", ftTexts(top))
	}
}

// ftWalk calls f on o and every visible object inside it, widgets'
// rendered objects included.
func ftWalk(o fyne.CanvasObject, f func(fyne.CanvasObject)) {
	if o == nil || !o.Visible() {
		return
	}
	f(o)
	switch x := o.(type) {
	case *fyne.Container:
		for _, c := range x.Objects {
			ftWalk(c, f)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(x).Objects() {
			ftWalk(c, f)
		}
	}
}

// ftTexts lists the visible labels' and texts' contents under o.
func ftTexts(o fyne.CanvasObject) []string {
	var out []string
	ftWalk(o, func(o fyne.CanvasObject) {
		switch x := o.(type) {
		case *widget.Label:
			out = append(out, x.Text)
		case *canvas.Text:
			out = append(out, x.Text)
		}
	})
	return out
}

// ftButtons maps the visible buttons under o by their text.
func ftButtons(o fyne.CanvasObject) map[string]*widget.Button {
	out := map[string]*widget.Button{}
	ftWalk(o, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok {
			out[b.Text] = b
		}
	})
	return out
}

// ftImages lists the decoded images under o.
func ftImages(o fyne.CanvasObject) []*canvas.Image {
	var out []*canvas.Image
	ftWalk(o, func(o fyne.CanvasObject) {
		// Icons are images made from a resource; previews and thumbnails
		// are decoded images.
		if i, ok := o.(*canvas.Image); ok && i.Image != nil && i.Resource == nil {
			out = append(out, i)
		}
	})
	return out
}

// ftShowsBar reports whether a progress bar is visible in o.
func ftShowsBar(o fyne.CanvasObject) bool {
	found := false
	ftWalk(o, func(o fyne.CanvasObject) {
		if _, ok := o.(*widget.ProgressBar); ok {
			found = true
		}
	})
	return found
}

// ftTap taps the button labelled text, failing if there is none.
func ftTap(t *testing.T, btns map[string]*widget.Button, text string) {
	t.Helper()
	b := btns[text]
	if b == nil {
		t.Fatalf("no %q button among %v", text, ftKeys(btns))
	}
	test.Tap(b)
}

func ftKeys(m map[string]*widget.Button) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The attach button's and the Save button's dialogs are Fyne's file dialogs.
func TestFileDialogs(t *testing.T) {
	test.NewTempApp(t)
	win := test.NewTempWindow(t, widget.NewLabel(""))
	win.Resize(fyne.NewSize(900, 700))
	d := &dropHandler{win: win, contact: func() string { return "c" }}
	d.chooseFile()
	btns := ftButtons(ftTop(t, win))
	if btns["Open"] == nil {
		t.Fatalf("file open dialog buttons %v, want Open", ftKeys(btns))
	}
	ftTap(t, btns, "Cancel")
	ftNoDialog(t, win)
	if d.busy || len(d.queue) != 0 {
		t.Error("cancelling the file dialog queued a file")
	}

	called := false
	saveFileDialog(win, "../evil\u202egpj.sh", func(string) error { called = true; return nil })
	var names []string
	ftWalk(ftTop(t, win), func(o fyne.CanvasObject) {
		if e, ok := o.(*widget.Entry); ok {
			names = append(names, e.Text)
		}
	})
	if len(names) != 1 || names[0] != "_evilgpj.sh" {
		t.Errorf("save dialog suggests %q, want [_evilgpj.sh]", names)
	}
	ftTap(t, ftButtons(ftTop(t, win)), "Cancel")
	ftNoDialog(t, win)
	if called {
		t.Error("save called after Cancel")
	}
}
