package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/relay/embedded"
)

// cliEnv runs the CLI as separate processes, as a user would, and
// reports their peak memory. The binary is built once, without the race
// detector (whose shadow memory would dwarf what is measured), with the
// ephemera_testkdf tag so that tests may use cheap passphrase stretching.
type cliEnv struct {
	t     *testing.T
	relay string
	work  string
	bin   string
}

// cliBinary builds the CLI into the test's temporary folder (the build
// cache makes the second build a link step).
func cliBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ephemera-cli")
	cmd := exec.Command("go", "build", "-tags", "ephemera_testkdf", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	r, err := embedded.Start(t.Context(), embedded.Options{DataDir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &cliEnv{t: t, relay: r.URL(), work: t.TempDir(), bin: cliBinary(t)}
}

// run runs the CLI for profile name and returns its standard output and
// its peak resident size in bytes.
func (e *cliEnv) run(name string, args ...string) (string, int64) {
	e.t.Helper()
	cmd := exec.Command(e.bin, append(args, "--profile", filepath.Join(e.work, name))...)
	// The child reports its own peak: wait4's ru_maxrss would include this
	// process's (see testkdf_tag.go), which under -race is above the bound.
	peakFile := filepath.Join(e.t.TempDir(), "peak-rss")
	cmd.Env = append(os.Environ(), "EPHEMERA_INSECURE_TEST_KDF=1", "EPHEMERA_PASSPHRASE=pass-"+name,
		"EPHEMERA_TEST_PEAK_RSS_FILE="+peakFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	b, err := os.ReadFile(peakFile)
	if err != nil {
		e.t.Fatalf("%s %v: no peak RSS reported: %v", name, args, err)
	}
	// "VmHWM:	  12345 kB"
	kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(string(b), "VmHWM:"), "kB")), 10, 64)
	if err != nil {
		e.t.Fatalf("%s %v: peak RSS %q: %v", name, args, b, err)
	}
	return stdout.String(), kb * 1024
}

func (e *cliEnv) meet(a, b string) {
	e.t.Helper()
	e.run(a, "init", "--name", a, "--relay", e.relay)
	e.run(b, "init", "--name", b, "--relay", e.relay)
	out, _ := e.run(a, "invite", "--once")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	e.run(b, "accept", lines[len(lines)-1])
	e.run(a, "contacts")
}

func recvJSON(t *testing.T, out string) []jsonMessage {
	t.Helper()
	var ms []jsonMessage
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m jsonMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("recv printed %q: %v", line, err)
		}
		ms = append(ms, m)
	}
	return ms
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// TestLargeFileFlatMemory sends a 16 MiB and a 128 MiB file between two
// CLI processes. The 128 MiB file must arrive intact, each process's peak
// resident memory must stay far below its size, and it must not grow with
// the file: memory is flat, not proportional. (make perf does 1 GiB.)
func TestLargeFileFlatMemory(t *testing.T) {
	e := newCLIEnv(t)
	e.meet("alice", "bob")
	small := transferRSS(t, e, 16<<20, "small")
	large := transferRSS(t, e, 128<<20, "large")
	t.Logf("peak RSS, 16 MiB file: sender %d MiB, receiver %d MiB; 128 MiB file: sender %d MiB, receiver %d MiB",
		small[0]>>20, small[1]>>20, large[0]>>20, large[1]>>20)
	for i, who := range []string{"sender", "receiver"} {
		if large[i] > 64<<20 {
			t.Errorf("%s's peak RSS is %d MiB for a 128 MiB file", who, large[i]>>20)
		}
		if large[i] > small[i]+24<<20 {
			t.Errorf("%s's peak RSS grew from %d MiB to %d MiB with the file's size", who, small[i]>>20, large[i]>>20)
		}
	}
}

// transferRSS sends a file of size random bytes from alice to bob, checks
// it arrives intact, and returns the peak RSS of the sending and the
// saving process.
func transferRSS(t *testing.T, e *cliEnv, size int64, name string) [2]int64 {
	t.Helper()
	src := filepath.Join(e.work, name+".bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{byte(size >> 20)}), size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// The CLI waits --timeout (30s by default) for the whole upload or
	// download; on a busy machine, with the relay under the race detector,
	// 128 MiB takes longer. A deadline sized to the file: 1 min plus 2 s
	// per MiB.
	timeout := (time.Minute + time.Duration(size>>20)*2*time.Second).String()
	out, sendRSS := e.run("alice", "send-file", "bob", src, "--as-is", "--timeout", timeout)
	id := strings.TrimSpace(out)
	out, _ = e.run("bob", "recv", "--json", "--timeout", timeout)
	ms := recvJSON(t, out)
	if len(ms) != 1 || ms[0].File == nil || ms[0].File.Size != size || ms[0].ID != id {
		t.Fatalf("Bob received %+v, want the %d MiB file %s", ms, size>>20, id)
	}
	dst := filepath.Join(e.work, name+".out")
	_, recvRSS := e.run("bob", "save-file", id, dst, "--timeout", timeout)
	if fileHash(t, src) != fileHash(t, dst) {
		t.Fatalf("the received %d MiB file differs from the sent one", size>>20)
	}
	return [2]int64{sendRSS, recvRSS}
}

// TestPhotoArrivesWithoutGPS sends a photo tagged by exiftool and checks
// with exiftool that what arrives has no location or camera.
func TestPhotoArrivesWithoutGPS(t *testing.T) {
	exiftool, err := exec.LookPath("exiftool")
	if err != nil {
		t.Fatal("exiftool is missing: run scripts/install-deps.sh test")
	}
	e := newCLIEnv(t)
	e.meet("alice", "bob")
	photo := filepath.Join(e.work, "photo.jpg")
	writeTestJPEG(t, photo)
	tag := exec.Command(exiftool, "-overwrite_original", "-GPSLatitude=52.52", "-GPSLatitudeRef=N",
		"-GPSLongitude=13.40", "-GPSLongitudeRef=E", "-Make=Apple", "-Model=iPhone 15", "-SerialNumber=SN-4711", photo)
	if out, err := tag.CombinedOutput(); err != nil {
		t.Fatalf("exiftool: %v\n%s", err, out)
	}
	out, _ := e.run("alice", "send-file", "bob", photo)
	id := strings.TrimSpace(out)
	e.run("bob", "recv")
	dst := filepath.Join(e.work, "received.jpg")
	e.run("bob", "save-file", id, dst)
	out2, err := exec.Command(exiftool, "-j", "-a", "-G1", dst).Output()
	if err != nil {
		t.Fatal(err)
	}
	var tags []map[string]any
	if err := json.Unmarshal(out2, &tags); err != nil || len(tags) != 1 {
		t.Fatalf("exiftool output: %v\n%s", err, out2)
	}
	for k, v := range tags[0] {
		if k == "SourceFile" || strings.HasPrefix(k, "System:") {
			continue // the file's own path and dates
		}
		for _, s := range []string{"GPS", "Apple", "iPhone", "SN-4711", "Serial", "Make", "Model"} {
			if strings.Contains(k, s) || strings.Contains(fmt.Sprint(v), s) {
				t.Errorf("the received photo still carries %s = %v", k, v)
			}
		}
	}
}
