package main

// The smoke test runs the real app binary in a real X window and looks at
// it. It needs a display server and tools that plain `go test ./...` cannot
// assume, so it runs only with EPHEMERA_SMOKE=1 (`make test` sets it, and then
// a missing tool is a failure, not a skip):
//
//   - Xvfb, on a display number it picks itself (-displayfd);
//   - xwininfo (x11-utils) to find the window;
//   - import (ImageMagick) for the screenshot;
//   - tesseract to read "Connected" off the screenshot.
//
// HOME and the XDG directories point into a temporary directory, so the app
// starts its own embedded relay with empty data. EPHEMERA_SCREENSHOT=path
// saves the window's screenshot there (`make screenshot`).

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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestSmokeRealWindow(t *testing.T) {
	if os.Getenv("EPHEMERA_SMOKE") == "" {
		t.Skip("smoke test skipped: set EPHEMERA_SMOKE=1 to run the app under Xvfb (make test does)")
	}
	for _, tool := range []string{"Xvfb", "xwininfo", "import", "convert", "tesseract"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("smoke test needs %s: %v (run scripts/install-deps.sh test)", tool, err)
		}
	}
	tmp := t.TempDir()

	bin := filepath.Join(tmp, "ephemera")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}

	display := startXvfb(t)
	env := appEnv(t, tmp, display)

	// Start the app and follow its log for the "connected" state.
	app := exec.Command(bin)
	app.Env = env
	logs := &syncBuffer{}
	stderr, err := app.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatalf("start app: %v", err)
	}
	exited := make(chan error, 1)
	connected := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			logs.WriteLine(line)
			if strings.Contains(line, "relay connection") && strings.Contains(line, "state=connected") {
				once.Do(func() { close(connected) })
			}
		}
		exited <- app.Wait()
	}()
	defer func() {
		app.Process.Kill() // no-op once it has exited
		if t.Failed() {
			t.Logf("app log:\n%s", logs.String())
		}
	}()

	select {
	case <-connected:
	case err := <-exited:
		t.Fatalf("app exited before connecting: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("app did not log state=connected within 60s")
	}

	winID := waitForWindow(t, env, "Ephemera", 20*time.Second)

	// The window may render the state a frame after the log line: read the
	// screenshot until OCR finds "Connected", for a bounded time.
	shot := filepath.Join(tmp, "window.png")
	var text string
	deadline := time.Now().Add(20 * time.Second)
	for {
		run(t, env, "import", "-window", winID, shot)
		text = ocr(t, env, shot, tmp)
		if regexp.MustCompile(`\bConnected\b`).MatchString(text) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	img := decodePNG(t, shot)
	if n := distinctColours(img); n < 64 {
		t.Errorf("screenshot has %d distinct colours, want at least 64 (blank window?)", n)
	}
	b := img.Bounds()
	if b.Dx() < 200 || b.Dy() < 100 {
		t.Errorf("window is %dx%d, want at least 200x100", b.Dx(), b.Dy())
	}
	if !regexp.MustCompile(`\bConnected\b`).MatchString(text) {
		t.Errorf("OCR of the window did not find \"Connected\"; it read:\n%s", text)
	}
	if !strings.Contains(text, "Ephemera") {
		t.Errorf("OCR of the window did not find \"Ephemera\"; it read:\n%s", text)
	}
	t.Logf("window %s is %dx%d; OCR read: %q", winID, b.Dx(), b.Dy(), strings.Join(strings.Fields(text), " "))

	if dst := os.Getenv("EPHEMERA_SCREENSHOT"); dst != "" {
		data, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot saved to %s", dst)
	}

	// SIGTERM quits cleanly: the messenger closes and logs it.
	if err := app.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("app exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("app did not exit within 15s of SIGTERM")
	}
	if !strings.Contains(logs.String(), "state=closed") {
		t.Errorf("app log has no state=closed after SIGTERM")
	}
	// Fyne logs widgets touched outside its goroutine (a missing fyne.Do).
	if strings.Contains(logs.String(), "Error in Fyne call thread") {
		t.Errorf("app log reports UI calls off the Fyne goroutine")
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
