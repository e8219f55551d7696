//go:build unix

package main

// The smoke test runs the real app binary in a real X window and looks at
// it (on Unix: it drives the app with signals, and X runs there). It needs a display server and tools that plain `go test ./...` cannot
// assume, so it runs only with EPHEMERA_SMOKE=1 (`make test` sets it, and then
// a missing tool is a failure, not a skip):
//
//   - Xvfb, on a display number it picks itself (-displayfd), and
//     dbus-daemon for a private session bus (the tray and notifications
//     need one; EPHEMERA_SMOKE_NO_DBUS=1 runs without, as some desktops do);
//   - xwininfo (x11-utils) to find the window, xdotool to type into it;
//   - import and convert (ImageMagick) for the screenshot;
//   - tesseract to read the message off the screenshot.
//
// The test prepares a profile in its own process (alice, with her embedded
// relay, and bob on it; they pair and exchange messages), then runs the app
// on alice's profile with HOME and the XDG directories in a temporary
// directory. What the window shows is checked twice: by the app's dump of
// its widget tree (EPHEMERA_DUMP, written on SIGUSR1) and by OCR of a
// screenshot. EPHEMERA_SCREENSHOT=path saves the screenshot there
// (`make screenshot`).
//
// The same machinery takes the screenshots of docs/screenshots/
// (TestScreenshots, EPHEMERA_SCREENSHOTS=dir, `make screenshots`) and
// measures the app against a minimal Fyne window (TestPerfGUI,
// EPHEMERA_PERF_GUI=1, `make perf-gui`).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/messenger"
	"github.com/ephemera-im/ephemera/net/relay/embedded"
)

const (
	smokePass    = "correct horse battery staple"
	smokeMessage = "Smoke signal over the hills"  // from Bob
	smokeReply   = "Copy that, loud and clear"    // from Alice
	smokeWordRE  = `(?i)\b(smoke|signal|hills)\b` // OCR: one word of smokeMessage
)

func TestSmokeRealWindow(t *testing.T) {
	h := newHarness(t, "EPHEMERA_SMOKE")
	profile := filepath.Join(h.tmp, "alice")
	prepareSmokeProfile(t, profile, filepath.Join(h.tmp, "bob"))

	app := h.startApp(t, "Ephemera", "--profile", profile)

	// Locked: the dump shows the unlock screen, and no message. This is
	// the check that the dump tells screens apart.
	locked := app.dumpUntil(t, 20*time.Second, func(d string) bool { return strings.Contains(d, "Entry password") })
	if !strings.Contains(locked, "screen=unlock") {
		t.Errorf("before the passphrase, the dump does not show the unlock screen:\n%s", locked)
	}
	if strings.Contains(locked, smokeMessage) || strings.Contains(locked, smokeReply) {
		t.Errorf("before the passphrase, the dump shows a message:\n%s", locked)
	}

	app.typeLine(t, smokePass)
	dump := app.dumpUntil(t, 60*time.Second, func(d string) bool { return strings.Contains(d, smokeMessage) })
	for _, want := range []string{"screen=main", `"Bob"`, smokeMessage, smokeReply} {
		if !strings.Contains(dump, want) {
			t.Errorf("unlocked, the dump has no %q:\n%s", want, dump)
		}
	}
	if m := regexp.MustCompile(`(?i).*\b(error|failed|cannot|wrong passphrase)\b.*`).FindString(dump); m != "" {
		t.Errorf("unlocked, the dump shows an error: %q", m)
	}
	if strings.Contains(dump, smokePass) {
		t.Error("the dump holds the passphrase")
	}

	// The screenshot shows it too: not blank, and OCR reads the message.
	shot := filepath.Join(h.tmp, "window.png")
	var text string
	deadline := time.Now().Add(20 * time.Second)
	for {
		run(t, h.env, "import", "-window", app.win, shot)
		text = ocr(t, h.env, shot, h.tmp)
		if regexp.MustCompile(smokeWordRE).MatchString(text) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	img := decodePNG(t, shot)
	if n := distinctColours(img); n < 64 {
		t.Errorf("screenshot has %d distinct colours, want at least 64 (blank window?)", n)
	}
	b := img.Bounds()
	if b.Dx() < 400 || b.Dy() < 300 {
		t.Errorf("window is %dx%d, want at least 400x300", b.Dx(), b.Dy())
	}
	if !regexp.MustCompile(smokeWordRE).MatchString(text) {
		t.Errorf("OCR of the window found no word of %q; it read:\n%s", smokeMessage, text)
	}
	t.Logf("window %s is %dx%d; OCR read: %q", app.win, b.Dx(), b.Dy(), strings.Join(strings.Fields(text), " "))
	if dst := os.Getenv("EPHEMERA_SCREENSHOT"); dst != "" {
		copyFile(t, shot, dst)
		t.Logf("screenshot saved to %s", dst)
	}

	app.terminate(t)
	// Fyne logs widgets touched outside its goroutine (a missing fyne.Do).
	if strings.Contains(app.logs.String(), "Error in Fyne call thread") {
		t.Errorf("app log reports UI calls off the Fyne goroutine")
	}
}

// prepareSmokeProfile makes alice's profile in dir, with the embedded
// relay, and bob's on it; they become contacts and exchange a message
// each way; both profiles are closed after.
func prepareSmokeProfile(t *testing.T, dir, bobDir string) {
	t.Helper()
	alice, err := messenger.Create(messenger.Config{Dir: dir, Passphrase: []byte(smokePass), Pseudonym: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	// Bob is never opened by the app: cheap stretching is enough.
	bob, err := messenger.Create(messenger.Config{Dir: bobDir, Passphrase: []byte("bob"), Pseudonym: "Bob",
		RelayURL: alice.RelayURL(), InsecureTestKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := pair(ctx, alice, bob); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendText(ctx, "Alice", smokeMessage, messenger.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := syncAll(ctx, bob, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, "Bob", smokeReply, messenger.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := syncAll(ctx, alice, bob, alice); err != nil {
		t.Fatal(err)
	}
	h, err := alice.History("Bob", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range h {
		texts = append(texts, m.Text)
	}
	if !slices.Contains(texts, smokeMessage) || !slices.Contains(texts, smokeReply) {
		t.Fatalf("alice's history with Bob is %q, want both messages", texts)
	}
}

// harness is a built app binary and an X display to run it on.
type harness struct {
	tmp, bin string
	env      []string
}

// newHarness skips unless the environment variable gate is set, then
// checks the tools, builds the app and starts Xvfb.
func newHarness(t *testing.T, gate string) *harness {
	t.Helper()
	if os.Getenv(gate) == "" {
		t.Skipf("skipped: set %s=1 to run the app under Xvfb (see main_test.go)", gate)
	}
	for _, tool := range []string{"Xvfb", "dbus-daemon", "xwininfo", "xdotool", "import", "convert", "tesseract"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s: %v (run scripts/install-deps.sh test)", tool, err)
		}
	}
	h := &harness{tmp: t.TempDir()}
	h.bin = goBuild(t, filepath.Join(h.tmp, "ephemera"), ".")
	h.env = appEnv(t, h.tmp, startXvfb(t))
	if os.Getenv("EPHEMERA_SMOKE_NO_DBUS") == "" {
		h.env = append(h.env, "DBUS_SESSION_BUS_ADDRESS="+startDBus(t, h.env))
	}
	return h
}

// startDBus starts a private session bus, as a desktop has (the system
// tray and notifications use it), and returns its address.
func startDBus(t *testing.T, env []string) string {
	t.Helper()
	cmd := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1")
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a == "" {
			t.Fatal("dbus-daemon printed no address")
		}
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("dbus-daemon gave no address within 10s")
	}
	return ""
}

// goBuild builds pkg as `make build` does and returns the binary's path.
func goBuild(t *testing.T, out, pkg string) string {
	t.Helper()
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build %s: %v", pkg, err)
	}
	return out
}

// appProcess is a running app with its log.
type appProcess struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
	dump   string // EPHEMERA_DUMP
	win    string // X window id
	env    []string
}

// startApp runs the app binary with args, waits for its window titled
// title, and kills it at the end of the test.
func (h *harness) startApp(t *testing.T, title string, args ...string) *appProcess {
	t.Helper()
	return h.start(t, h.bin, title, nil, args...)
}

func (h *harness) start(t *testing.T, bin, title string, env []string, args ...string) *appProcess {
	t.Helper()
	p := &appProcess{logs: &syncBuffer{}, exited: make(chan error, 1)}
	p.dump = filepath.Join(t.TempDir(), "dump.txt")
	p.env = append(slices.Clone(h.env), env...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(slices.Clone(p.env), "EPHEMERA_DUMP="+p.dump)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logs.WriteLine(sc.Text())
		}
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill() // no-op once it has exited
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), p.logs.String())
		}
	})
	if title != "" {
		p.win = waitForWindow(t, h.env, title, 30*time.Second)
	}
	return p
}

// dumpUntil asks the app for its dump (SIGUSR1) until ok accepts one, for
// at most timeout, and returns the last dump.
func (p *appProcess) dumpUntil(t *testing.T, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		os.Remove(p.dump)
		if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatalf("SIGUSR1: %v", err)
		}
		for wait := time.Now().Add(5 * time.Second); time.Now().Before(wait); time.Sleep(50 * time.Millisecond) {
			if b, err := os.ReadFile(p.dump); err == nil {
				last = string(b)
				break
			}
		}
		if ok(last) {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %v, no dump as expected; the last:\n%s", timeout, last)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// typeLine focuses the app's window and types s then Return, as a user.
func (p *appProcess) typeLine(t *testing.T, s string) {
	t.Helper()
	run(t, p.env, "xdotool", "windowfocus", "--sync", p.win)
	run(t, p.env, "xdotool", "type", "--delay", "30", s)
	run(t, p.env, "xdotool", "key", "Return")
}

// key sends a key combination (xdotool syntax: ctrl+i, Escape) to the
// focused window.
func (p *appProcess) key(t *testing.T, k string) {
	t.Helper()
	run(t, p.env, "xdotool", "windowfocus", "--sync", p.win)
	run(t, p.env, "xdotool", "key", k)
}

// terminate sends SIGTERM and wants a clean exit within 15 s.
func (p *appProcess) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("app exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("app did not exit within 15s of SIGTERM")
	}
}

// rss returns the process's resident memory in bytes (VmRSS) and its peak
// (VmHWM).
func (p *appProcess) rss(t *testing.T) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) int64 {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+(\d+) kB$`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no %s in /proc/%d/status", name, p.cmd.Process.Pid)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n << 10
	}
	t.Logf("pid %d: RssAnon %d MiB, RssFile %d MiB, RssShmem %d MiB", p.cmd.Process.Pid,
		field("RssAnon")>>20, field("RssFile")>>20, field("RssShmem")>>20)
	return field("VmRSS"), field("VmHWM")
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startXvfb starts Xvfb on a free display and returns its name (":N").
func startXvfb(t *testing.T) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1024x768x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	var xlog syncBuffer
	cmd.Stderr = &xlog
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})

	num := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		num <- strings.TrimSpace(line)
	}()
	select {
	case n := <-num:
		if _, err := strconv.Atoi(n); err != nil {
			t.Fatalf("Xvfb gave no display number (%q); its log:\n%s", n, xlog.String())
		}
		return ":" + n
	case <-time.After(30 * time.Second):
		t.Fatalf("Xvfb did not start within 30s; its log:\n%s", xlog.String())
	}
	return ""
}

// appEnv is the environment for the app and the X tools: the test's own,
// with a fresh home and XDG directories, the display, and no relay URL.
func appEnv(t *testing.T, tmp, display string) []string {
	t.Helper()
	home := filepath.Join(tmp, "home")
	runtime := filepath.Join(tmp, "run")
	for _, d := range []string{home, runtime} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "HOME", k == "DISPLAY", k == "WAYLAND_DISPLAY", k == "EPHEMERA_RELAY_URL",
			strings.HasPrefix(k, "XDG_"), strings.HasPrefix(k, "DBUS_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_RUNTIME_DIR="+runtime,
		"DISPLAY="+display,
	)
}

// waitForWindow polls the X window tree for a window named name and
// returns its id.
func waitForWindow(t *testing.T, env []string, name string, timeout time.Duration) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*(0x[0-9a-f]+) "` + regexp.QuoteMeta(name) + `"`)
	deadline := time.Now().Add(timeout)
	var tree string
	for time.Now().Before(deadline) {
		tree = run(t, env, "xwininfo", "-root", "-tree")
		if m := re.FindStringSubmatch(tree); m != nil {
			return m[1]
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no window named %q within %v; window tree:\n%s", name, timeout, tree)
	return ""
}

// ocr reads the text of a screenshot. The image is enlarged and turned to
// grey, and read both as is and inverted, since the theme may be dark or
// light; the two readings are returned together.
func ocr(t *testing.T, env []string, shot, tmp string) string {
	t.Helper()
	var out strings.Builder
	for i, extra := range [][]string{nil, {"-negate"}} {
		prepared := filepath.Join(tmp, fmt.Sprintf("ocr%d.png", i))
		args := append([]string{shot, "-resize", "300%", "-colorspace", "Gray"}, extra...)
		run(t, env, "convert", append(args, prepared)...)
		out.WriteString(run(t, env, "tesseract", prepared, "stdout"))
		out.WriteString("\n")
	}
	return out.String()
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

func distinctColours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

// syncBuffer collects log lines from one goroutine for reading by another.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) WriteLine(s string) { io.WriteString(b, s+"\n") }

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestMain lets TestSmokeVersionFlag run this test binary as the app: with
// EPHEMERA_TEST_RUN_MAIN=1 it calls main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("EPHEMERA_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmokeVersionFlag checks `ephemera --version`: one line, and no window.
// It needs no display and no build of its own (the test binary is the app),
// so it runs in plain `go test` too; the name puts it in `make test-smoke`.
// The packaged, version-stamped binaries are checked by
// scripts/package-check.sh.
func TestSmokeVersionFlag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "--version")
	cmd.Env = append(os.Environ(), "EPHEMERA_TEST_RUN_MAIN=1", "DISPLAY=", "WAYLAND_DISPLAY=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ephemera --version: %v\nstderr: %s", err, stderr.String())
	}
	re := regexp.MustCompile(`^ephemera \S+ go1\.\S+ \S+/\S+ \(commit \S+\)\n$`)
	if !re.Match(out) {
		t.Errorf("ephemera --version printed %q, want a line matching %s", out, re)
	}
}

// TestPerfGUI measures the app against a minimal Fyne window built the
// same way (internal/cmd/minimal-window), alternating runs under the same
// Xvfb (make perf-gui, docs/PERFORMANCE.md):
//
//   - start to first frame: the app on the unlock screen of a prepared
//     profile (no passphrase stretching), reported by the app itself
//     (EPHEMERA_FIRST_FRAME), EPHEMERA_PERF_GUI_RUNS runs each (default
//     11); also the wall time from fork to the report, seen from here;
//   - resident memory: the app unlocked on a profile with 10
//     conversations of EPHEMERA_PERF_GUI_MESSAGES messages each (default
//     10,000), the newest conversation open, against the minimal window.
func TestPerfGUI(t *testing.T) {
	h := newHarness(t, "EPHEMERA_PERF_GUI")
	minimal := goBuild(t, filepath.Join(h.tmp, "minimal-window"), "./internal/cmd/minimal-window")
	runs := envInt(t, "EPHEMERA_PERF_GUI_RUNS", 11)
	perContact := envInt(t, "EPHEMERA_PERF_GUI_MESSAGES", 10000)

	profile := filepath.Join(h.tmp, "alice")
	prepareSmokeProfile(t, profile, filepath.Join(h.tmp, "bob"))

	firstFrame := func(bin string, args ...string) (reported, wall time.Duration) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(slices.Clone(h.env), "EPHEMERA_FIRST_FRAME=1", "EPHEMERA_EXIT_AFTER_FIRST_FRAME=1")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`^first-frame-ms=(\d+)$`)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil && reported == 0 {
				wall = time.Since(start)
				ms, _ := strconv.Atoi(m[1])
				reported = time.Duration(ms) * time.Millisecond
			}
		}
		if err := cmd.Wait(); err != nil || reported == 0 {
			t.Fatalf("%s: %v, no first frame reported; log:\n%s", filepath.Base(bin), err, log.String())
		}
		return reported, wall
	}
	var appR, appW, minR, minW []time.Duration
	for i := range runs + 1 {
		r1, w1 := firstFrame(h.bin, "--profile", profile)
		r2, w2 := firstFrame(minimal)
		if i == 0 {
			continue // warm the page cache for both
		}
		appR, appW = append(appR, r1), append(appW, w1)
		minR, minW = append(minR, r2), append(minW, w2)
	}
	ratio := float64(median(appR)) / float64(median(minR))
	t.Logf("first frame over %d runs each, median (min..max): app %v (%v..%v), minimal window %v (%v..%v): ratio %.2f",
		runs, median(appR), slices.Min(appR), slices.Max(appR), median(minR), slices.Min(minR), slices.Max(minR), ratio)
	t.Logf("wall time from fork to the report, median: app %v, minimal window %v: ratio %.2f",
		median(appW), median(minW), float64(median(appW))/float64(median(minW)))
	if ratio > 2 {
		t.Errorf("first frame: the app takes %.2f times the minimal window, want at most 2", ratio)
	}

	// Memory: the minimal window, then the app with 10 conversations.
	mw := h.start(t, minimal, "Minimal window", nil)
	time.Sleep(3 * time.Second)
	minRSS, minPeak := mw.rss(t)
	mw.cmd.Process.Kill() // it has no signal handling of its own

	big := filepath.Join(h.tmp, "big")
	start := time.Now()
	newest := prepareBigProfile(t, h.tmp, big, 10, perContact)
	t.Logf("prepared 10 conversations of %d messages in %v", perContact, time.Since(start).Round(time.Second))
	app := h.startApp(t, "Ephemera", "--profile", big)
	app.dumpUntil(t, 20*time.Second, func(d string) bool { return strings.Contains(d, "Entry password") })
	app.typeLine(t, smokePass)
	app.dumpUntil(t, 120*time.Second, func(d string) bool { return strings.Contains(d, newest) })
	time.Sleep(3 * time.Second)
	appRSS, appPeak := app.rss(t)
	app.terminate(t)
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	t.Logf("resident memory: app %s (peak %s), minimal window %s (peak %s): ratio %.2f",
		mib(appRSS), mib(appPeak), mib(minRSS), mib(minPeak), float64(appRSS)/float64(minRSS))
	if appRSS > 3*minRSS || appRSS >= 200<<20 {
		t.Errorf("resident memory of the app %s, want at most 3 times the minimal window's %s and under 200 MB", mib(appRSS), mib(minRSS))
	}
}

// prepareBigProfile makes alice's profile in dir on a relay run by this
// test, and n contacts who each send her perContact messages, the last
// contact last; it returns the text of the newest message.
func prepareBigProfile(t *testing.T, tmp, dir string, n, perContact int) string {
	t.Helper()
	r, err := embedded.Start(t.Context(), embedded.Options{DataDir: filepath.Join(tmp, "relay")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	alice, err := messenger.Create(messenger.Config{Dir: dir, Passphrase: []byte(smokePass), Pseudonym: "Alice",
		RelayURL: r.URL(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	newest := ""
	for i := range n {
		name := fmt.Sprintf("Contact %02d", i)
		c, err := messenger.Create(messenger.Config{Dir: filepath.Join(tmp, "contacts", name), Passphrase: []byte("c"),
			Pseudonym: name, RelayURL: r.URL(), InsecureTestKDF: true, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := pair(ctx, alice, c); err != nil {
			t.Fatal(err)
		}
		const senders = 16
		var wg sync.WaitGroup
		errs := make(chan error, senders)
		for g := range senders {
			wg.Go(func() {
				for k := g; k < perContact-1; k += senders {
					text := fmt.Sprintf("Message %d of %d from %s: the quick brown fox jumps over the lazy dog.", k+1, perContact, name)
					if _, err := c.SendText(ctx, "Alice", text, messenger.SendOptions{}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		// Everything sent before the last words, so they come last.
		if err := syncAll(ctx, c); err != nil {
			t.Fatal(err)
		}
		newest = fmt.Sprintf("Last words from %s", name)
		if _, err := c.SendText(ctx, "Alice", newest, messenger.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := syncAll(ctx, c, alice); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if err := syncAll(ctx, alice); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		h, err := alice.History(fmt.Sprintf("Contact %02d", i), 0, 1)
		if err != nil || len(h) != 1 || !strings.HasPrefix(h[0].Text, "Last words from") || h[0].Seq < uint64(perContact) {
			t.Fatalf("contact %d: newest message %+v (%v), want the last of %d", i, h, err, perContact)
		}
	}
	return newest
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// TestScreenshots saves PNGs of the main screens into the folder
// EPHEMERA_SCREENSHOTS names (make screenshots: docs/screenshots/):
// onboarding, unlock, a conversation, the invite dialog (Ctrl+I) and the
// settings (Ctrl+,).
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("EPHEMERA_SCREENSHOTS")
	h := newHarness(t, "EPHEMERA_SCREENSHOTS")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shoot := func(app *appProcess, name string) {
		t.Helper()
		time.Sleep(time.Second) // let animations (focus, dialogs) settle
		dst := filepath.Join(dir, name+".png")
		run(t, h.env, "import", "-window", app.win, dst)
		if n := distinctColours(decodePNG(t, dst)); n < 64 {
			t.Errorf("%s: %d distinct colours, want at least 64 (blank window?)", dst, n)
		}
		t.Logf("saved %s", dst)
	}

	first := h.startApp(t, "Ephemera", "--profile", filepath.Join(h.tmp, "new"))
	first.dumpUntil(t, 20*time.Second, func(d string) bool { return strings.Contains(d, "screen=onboarding") })
	shoot(first, "onboarding")
	first.terminate(t)

	profile := filepath.Join(h.tmp, "alice")
	prepareSmokeProfile(t, profile, filepath.Join(h.tmp, "bob"))
	app := h.startApp(t, "Ephemera", "--profile", profile)
	app.dumpUntil(t, 20*time.Second, func(d string) bool { return strings.Contains(d, "Entry password") })
	shoot(app, "unlock")
	app.typeLine(t, smokePass)
	app.dumpUntil(t, 60*time.Second, func(d string) bool { return strings.Contains(d, smokeMessage) })
	shoot(app, "conversation")
	app.key(t, "ctrl+i")
	app.dumpUntil(t, 20*time.Second, func(d string) bool { return strings.Contains(d, "Valid until") })
	shoot(app, "invite")
	app.terminate(t)

	// Fyne's dialogs have no key to close them: a new start for settings.
	app = h.startApp(t, "Ephemera", "--profile", profile)
	app.dumpUntil(t, 20*time.Second, func(d string) bool { return strings.Contains(d, "Entry password") })
	app.typeLine(t, smokePass)
	app.dumpUntil(t, 60*time.Second, func(d string) bool { return strings.Contains(d, smokeMessage) })
	app.key(t, "ctrl+comma")
	app.dumpUntil(t, 20*time.Second, func(d string) bool { return strings.Contains(d, "Shred now") })
	shoot(app, "settings")
	app.terminate(t)
}
