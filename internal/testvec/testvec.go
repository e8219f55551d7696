// Package testvec reads and writes the JSON test vectors kept under
// testdata/: one file per vector, indented with two spaces and ending in a
// newline, so that a generator's output and the committed file can be
// compared byte for byte.
package testvec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// File is one loaded vector.
type File[T any] struct {
	Path string
	Raw  []byte // the file's bytes, as committed
	V    T      // Raw decoded
}

// Load decodes every file matching pattern, in name order. It fails the
// test when nothing matches: a vector test that loads no vectors would
// otherwise pass without checking anything.
func Load[T any](t testing.TB, pattern string) []File[T] {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no test vectors match %s (generate them with -update)", pattern)
	}
	files := make([]File[T], len(paths))
	for i, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = File[T]{Path: p, Raw: raw}
		if err := json.Unmarshal(raw, &files[i].V); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	return files
}

// Encode returns v as a vector file's bytes.
func Encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// Write writes v to path as a vector file, creating the folder if needed.
func Write(t testing.TB, path string, v any) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, Encode(t, v), 0o644); err != nil {
		t.Fatal(err)
	}
}

// RemoveAll deletes the files matching pattern, so that a regeneration
// leaves no vector the generator no longer makes.
func RemoveAll(t testing.TB, pattern string) {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}
