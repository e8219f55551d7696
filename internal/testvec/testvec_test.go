package testvec

import (
	"bytes"
	"path/filepath"
	"testing"
)

type vec struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func TestWriteLoadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vectors")
	want := []vec{{"a", 1}, {"b", 2}}
	for _, v := range want {
		Write(t, filepath.Join(dir, "x-"+v.Name+".json"), v)
	}
	got := Load[vec](t, filepath.Join(dir, "x-*.json"))
	if len(got) != len(want) {
		t.Fatalf("loaded %d vectors, want %d", len(got), len(want))
	}
	for i, f := range got {
		if f.V != want[i] {
			t.Errorf("vector %d: got %+v, want %+v", i, f.V, want[i])
		}
		if !bytes.Equal(f.Raw, Encode(t, want[i])) {
			t.Errorf("vector %d: raw %q is not what Encode makes", i, f.Raw)
		}
	}
	RemoveAll(t, filepath.Join(dir, "x-*.json"))
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("RemoveAll left %v", m)
	}
}

// fatalRecorder records whether Fatal was called instead of stopping.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (r *fatalRecorder) Helper()               {}
func (r *fatalRecorder) Fatalf(string, ...any) { r.failed = true; panic(r) }
func (r *fatalRecorder) Fatal(...any)          { r.failed = true; panic(r) }

func TestLoadNothingFails(t *testing.T) {
	r := &fatalRecorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil && v != r {
				panic(v)
			}
		}()
		Load[vec](r, filepath.Join(t.TempDir(), "none-*.json"))
	}()
	if !r.failed {
		t.Error("Load of no files did not fail the test")
	}
}
