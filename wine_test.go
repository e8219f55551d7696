//go:build unix

package main

// TestWindowsUnderWine runs the packaged Windows app under Wine and Xvfb, as
// `make package-check` does (EPHEMERA_WINE_EXE=path to the .exe; without
// it the test is skipped, and package-check fails if it did not pass):
//
//   - `ephemera.exe --version` prints the version line for windows/amd64
//     (EPHEMERA_WINE_WANT_VERSION, if set, is the exact line);
//   - started with a fresh Wine prefix and a fresh profile folder, the app
//     opens a window titled Ephemera that is not blank (a screenshot with
//     more than a few colours; EPHEMERA_WINE_SCREENSHOT=path keeps it);
//   - closed with Alt+F4, as a Windows user closes a window, it exits with
//     status 0.
//
// Debian's Wine 8.0 lacks bcryptprimitives.dll, which Go's runtime needs
// on Windows (Windows 10 and later have it): the test builds a stand-in
// from testdata/wine with MinGW and puts it into the fresh prefix only.
//
// Tools: wine64 (Debian's package puts it in /usr/lib/wine), Xvfb,
// xwininfo, xdotool, ImageMagick's import, x86_64-w64-mingw32-gcc
// (scripts/install-deps.sh package).

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWindowsUnderWine(t *testing.T) {
	exe := os.Getenv("EPHEMERA_WINE_EXE")
	if exe == "" {
		t.Skip("skipped: set EPHEMERA_WINE_EXE to the Windows .exe (make package-check does)")
	}
	exe, err := filepath.Abs(exe)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(exe); err != nil {
		t.Fatal(err)
	}
	wine := wineBinary(t)
	for _, tool := range []string{"Xvfb", "xwininfo", "xdotool", "import", "x86_64-w64-mingw32-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s: %v (run scripts/install-deps.sh package)", tool, err)
		}
	}
	tmp := t.TempDir()
	env := append(appEnv(t, tmp, startXvfb(t)),
		"WINEPREFIX="+filepath.Join(tmp, "prefix"),
		// No Mono or Gecko install prompts; the stand-in DLL is native.
		"WINEDLLOVERRIDES=mscoree,mshtml=;bcryptprimitives=n",
		"WINEDEBUG=fixme-all",
	)
	prepareWinePrefix(t, wine, env, tmp)

	// --version: no window, one line on standard output.
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wine, exe, "--version")
	cmd.Env = env
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wine ephemera.exe --version: %v\nstderr:\n%s", err, stderr.String())
	}
	line := strings.TrimRight(string(out), "\r\n")
	if want := os.Getenv("EPHEMERA_WINE_WANT_VERSION"); want != "" && line != want {
		t.Errorf("ephemera.exe --version printed %q, want %q", line, want)
	}
	if re := regexp.MustCompile(`^ephemera \S+ go1\.\S+ windows/amd64 \(commit \S+\)$`); !re.MatchString(line) {
		t.Errorf("ephemera.exe --version printed %q, want a line matching %s", line, re)
	}
	t.Logf("--version: %s", line)

	// The window, on a fresh profile: onboarding.
	profile := filepath.Join(tmp, "profile")
	p := &appProcess{logs: &syncBuffer{}, exited: make(chan error, 1), env: env}
	p.cmd = exec.Command(wine, exe, "--profile", `Z:`+strings.ReplaceAll(profile, "/", `\`))
	p.cmd.Env = env
	stderrPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start wine: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stderrPipe)
		for sc.Scan() {
			p.logs.WriteLine(sc.Text())
		}
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("wine ephemera.exe log:\n%s", p.logs.String())
		}
	})
	// Wine starts slowly on a busy machine; the first paint follows the
	// window's creation.
	p.win = waitForWindow(t, env, "Ephemera", 3*time.Minute)
	shot := filepath.Join(tmp, "wine.png")
	colours := 0
	var importErr error
	for deadline := time.Now().Add(2 * time.Minute); ; {
		// Wine draws OpenGL into a child of the window that an import of
		// the window itself shows black: take the screen, cropped to the
		// window. Until Wine maps the window, xwininfo cannot place it.
		geom, err := windowGeometry(env, p.win)
		if err != nil {
			importErr = err
			time.Sleep(time.Second)
			continue
		}
		imp := exec.Command("import", "-window", "root", "-crop", geom, "+repage", shot)
		imp.Env = env
		var out []byte
		if out, importErr = imp.CombinedOutput(); importErr != nil {
			importErr = fmt.Errorf("import -window %s: %v\n%s", p.win, importErr, out)
		} else if colours = distinctColours(decodePNG(t, shot)); colours >= 64 {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if importErr != nil {
		t.Fatalf("no screenshot of the window within 2 minutes: %v", importErr)
	}
	b := decodePNG(t, shot).Bounds()
	t.Logf("window %s is %dx%d with %d distinct colours", p.win, b.Dx(), b.Dy(), colours)
	if dst := os.Getenv("EPHEMERA_WINE_SCREENSHOT"); dst != "" {
		copyFile(t, shot, dst)
	}
	if colours < 64 {
		t.Errorf("the window's screenshot has %d distinct colours, want at least 64 (blank window?)", colours)
	}
	if b.Dx() < 400 || b.Dy() < 300 {
		t.Errorf("window is %dx%d, want at least 400x300", b.Dx(), b.Dy())
	}

	// Close it as a user would, and expect a clean exit.
	// (Xvfb runs no window manager: focus the window directly.)
	run(t, env, "xdotool", "windowfocus", "--sync", p.win)
	run(t, env, "xdotool", "key", "--clearmodifiers", "alt+F4")
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("ephemera.exe exited with %v after Alt+F4, want status 0", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("ephemera.exe did not exit within 2 minutes of Alt+F4")
	}
	if strings.Contains(p.logs.String(), "Error in Fyne call thread") {
		t.Errorf("app log reports UI calls off the Fyne goroutine")
	}
}

// windowGeometry returns where window win is on the screen, as
// ImageMagick's WxH+X+Y.
func windowGeometry(env []string, win string) (string, error) {
	cmd := exec.Command("xwininfo", "-id", win)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("xwininfo -id %s: %v", win, err)
	}
	field := func(name string) (string, error) {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `:\s+(-?\d+)$`).FindSubmatch(out)
		if m == nil {
			return "", fmt.Errorf("xwininfo -id %s: no %q in\n%s", win, name, out)
		}
		return string(m[1]), nil
	}
	var v [4]string
	for i, name := range []string{"Width", "Height", "Absolute upper-left X", "Absolute upper-left Y"} {
		if v[i], err = field(name); err != nil {
			return "", err
		}
	}
	if v[0] == "0" || v[1] == "0" {
		return "", fmt.Errorf("window %s is not mapped yet (%sx%s)", win, v[0], v[1])
	}
	return fmt.Sprintf("%sx%s+%s+%s", v[0], v[1], v[2], v[3]), nil
}

// wineBinary finds the 64-bit Wine loader.
func wineBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"wine64", "wine"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const debian = "/usr/lib/wine/wine64"
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	t.Fatalf("needs wine64 (not on PATH, nor %s): run scripts/install-deps.sh package", debian)
	return ""
}

// prepareWinePrefix makes a fresh Wine prefix and puts the stand-in
// bcryptprimitives.dll into its system32.
func prepareWinePrefix(t *testing.T, wine string, env []string, tmp string) {
	t.Helper()
	dll := filepath.Join(tmp, "bcryptprimitives.dll")
	run(t, env, "x86_64-w64-mingw32-gcc", "-O2", "-shared", "-o", dll,
		"testdata/wine/bcryptprimitives.c", "testdata/wine/bcryptprimitives.def", "-ladvapi32")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	boot := exec.CommandContext(ctx, wine, "wineboot", "--init")
	boot.Env = env
	if out, err := boot.CombinedOutput(); err != nil {
		t.Fatalf("wineboot --init: %v\n%s", err, out)
	}
	// wineboot returns before the prefix is written: wait for the server.
	server := filepath.Join(filepath.Dir(wine), "wineserver")
	if _, err := os.Stat(server); err != nil {
		server = "wineserver"
	}
	wait := exec.CommandContext(ctx, server, "--wait")
	wait.Env = env
	if out, err := wait.CombinedOutput(); err != nil {
		t.Fatalf("wineserver --wait: %v\n%s", err, out)
	}
	system32 := filepath.Join(envValue(env, "WINEPREFIX"), "drive_c", "windows", "system32")
	copyFile(t, dll, filepath.Join(system32, "bcryptprimitives.dll"))
	t.Cleanup(func() {
		kill := exec.Command(server, "--kill")
		kill.Env = env
		kill.Run()
	})
}

func envValue(env []string, key string) string {
	i := slices.IndexFunc(env, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
	if i < 0 {
		panic(fmt.Sprintf("no %s in the environment", key))
	}
	return strings.TrimPrefix(env[i], key+"=")
}
