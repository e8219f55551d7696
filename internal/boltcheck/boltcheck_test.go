package boltcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// fixture writes a bbolt file with nested and inline buckets, branch
// pages and overflow pages, opened as Ephemera opens its files.
func fixture(t testing.TB) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, NoSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("big"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := b.Put(fmt.Appendf(nil, "key %06d", i), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
				return err
			}
		}
		if err := b.Put([]byte("overflow"), bytes.Repeat([]byte{7}, 20000)); err != nil {
			return err
		}
		n, err := b.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		for i := range 500 {
			if err := n.Put(fmt.Appendf(nil, "n%04d", i), []byte("v")); err != nil {
				return err
			}
		}
		in, err := tx.CreateBucket([]byte("inline"))
		if err != nil {
			return err
		}
		return in.Put([]byte("a"), []byte("b"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, raw
}

func TestCheck(t *testing.T) {
	path, raw := fixture(t)
	ps, hwm, pages, err := Pages(path)
	if err != nil {
		t.Fatalf("a whole file: %v", err)
	}
	if len(pages) < 10 || hwm < uint64(len(pages)) {
		t.Fatalf("%d pages below %d: the fixture is too small", len(pages), hwm)
	}
	if err := Check(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want fs.ErrNotExist", err)
	}
	cases := map[string][]byte{
		"empty":                 {},
		"truncated to its data": raw[:int(hwm)*ps-1],
		"truncated to 3 pages":  raw[:3*ps],
		"metas zeroed":          append(make([]byte, 2*ps), raw[2*ps:]...),
	}
	for _, id := range pages {
		b := bytes.Clone(raw)
		copy(b[int(id)*ps:], bytes.Repeat([]byte{0xa5}, 32))
		cases[fmt.Sprint("page ", id, " header")] = b
	}
	for name, b := range cases {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Check(path); !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: got %v, want ErrDamaged", name, err)
		}
	}
}

// FuzzCheck: whatever overwrites the file, Check does not panic, and a
// file it accepts bbolt opens and walks (its own Tx.Check) without a
// panic: the property that makes the check worth having.
func FuzzCheck(f *testing.F) {
	path, raw := fixture(f)
	_, _, pages, err := Pages(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(0), []byte{1})
	f.Add(uint32(4096+16), []byte{0xff, 0xff, 0xff, 0xff})
	f.Add(uint32(pages[0])*4096, []byte{9, 9, 9, 9, 9, 9, 9, 9, 9})
	f.Add(uint32(pages[len(pages)/2])*4096+20, []byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, off uint32, b []byte) {
		d := bytes.Clone(raw)
		copy(d[int(off)%len(d):], b)
		p := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(p, d, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Check(p); err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("got %v, want ErrDamaged", err)
			}
			return
		}
		db, err := bolt.Open(p, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
		if err != nil {
			return // refused with an error: fine
		}
		db.View(func(tx *bolt.Tx) error {
			for range tx.Check() {
			}
			return nil
		})
		db.Close()
	})
}
