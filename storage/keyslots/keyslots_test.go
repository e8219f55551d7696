package keyslots

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func newMaster() []byte {
	m := make([]byte, KeySize)
	rand.Read(m)
	return m
}

func openTemp(t *testing.T) (*File, string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys")
	master := newMaster()
	kf, err := Create(path, master)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kf.Close() })
	return kf, path, master
}

func TestAllocGetDestroyReuse(t *testing.T) {
	kf, _, _ := openTemp(t)
	keys := map[uint32][]byte{}
	for range 5 {
		s, k, err := kf.Alloc()
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != KeySize {
			t.Fatalf("key of %d bytes, want %d", len(k), KeySize)
		}
		if _, dup := keys[s]; dup {
			t.Fatalf("slot %d allocated twice", s)
		}
		keys[s] = k
	}
	for s, want := range keys {
		got, err := kf.Get(s)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Get(%d): got %x, %v, want %x", s, got, err, want)
		}
		got[0] ^= 1 // a copy: must not change the stored key
	}
	if err := kf.Destroy(2); err != nil {
		t.Fatal(err)
	}
	if _, err := kf.Get(2); !errors.Is(err, ErrNoKey) {
		t.Errorf("Get after Destroy: got %v, want ErrNoKey", err)
	}
	if err := kf.Destroy(2); err != nil {
		t.Errorf("second Destroy: got %v, want nil", err)
	}
	s, k, err := kf.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	if s != 2 {
		t.Errorf("Alloc after Destroy(2): got slot %d, want 2 (reuse)", s)
	}
	if bytes.Equal(k, keys[2]) {
		t.Error("reused slot got the destroyed key back")
	}
	if got, _ := kf.Get(0); !bytes.Equal(got, keys[0]) {
		t.Error("Get(0) changed after other slots were used")
	}
	if _, err := kf.Get(uint32(kf.Slots() + 5)); !errors.Is(err, ErrRange) {
		t.Errorf("Get out of range: got %v, want ErrRange", err)
	}
	if err := kf.Destroy(uint32(kf.Slots())); !errors.Is(err, ErrRange) {
		t.Errorf("Destroy out of range: got %v, want ErrRange", err)
	}
	if got, want := fmt.Sprint(kf.Allocated()), "[0 1 2 3 4]"; got != want {
		t.Errorf("Allocated: got %s, want %s", got, want)
	}
}

// TestDestroyLeavesNothing scans the raw file: key bytes are never in it,
// and after Destroy the sealed slot is gone too, so not even the master key
// recovers the key from the file.
func TestDestroyLeavesNothing(t *testing.T) {
	kf, path, master := openTemp(t)
	var victims [][]byte
	var sealed [][]byte
	for range 10 {
		s, k, err := kf.Alloc()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		if bytes.Contains(raw, k) {
			t.Fatal("key stored in the clear")
		}
		if s%3 == 0 {
			victims = append(victims, k)
			off := HeaderSize + int(s)*SlotSize
			sealed = append(sealed, bytes.Clone(raw[off:off+SlotSize]))
			if err := kf.Destroy(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range victims {
		if bytes.Contains(raw, k) {
			t.Errorf("destroyed key %d found in the file", i)
		}
		if bytes.Contains(raw, sealed[i]) || bytes.Contains(raw, sealed[i][nonceSize:]) {
			t.Errorf("sealed slot of destroyed key %d found in the file", i)
		}
	}
	kf.Close()
	kf2, err := Open(path, master)
	if err != nil {
		t.Fatal(err)
	}
	defer kf2.Close()
	for _, s := range kf2.Allocated() {
		k, _ := kf2.Get(s)
		for _, v := range victims {
			if bytes.Equal(k, v) {
				t.Errorf("destroyed key back in slot %d after reopening", s)
			}
		}
	}
	if got, want := len(kf2.Allocated()), 10-len(victims); got != want {
		t.Errorf("allocated after reopen: got %d, want %d", got, want)
	}
}

func TestReopenPersists(t *testing.T) {
	kf, path, master := openTemp(t)
	want := map[uint32][]byte{}
	for i := range 150 { // more than one growth step
		s, k, err := kf.Alloc()
		if err != nil {
			t.Fatal(err)
		}
		want[s] = k
		if i%7 == 0 {
			if err := kf.Destroy(s); err != nil {
				t.Fatal(err)
			}
			delete(want, s)
		}
	}
	slots := kf.Slots()
	if err := kf.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := kf.Get(0); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: got %v, want ErrClosed", err)
	}
	if _, _, err := kf.Alloc(); !errors.Is(err, ErrClosed) {
		t.Errorf("Alloc after Close: got %v, want ErrClosed", err)
	}
	kf2, err := Open(path, master)
	if err != nil {
		t.Fatal(err)
	}
	defer kf2.Close()
	if kf2.Slots() != slots {
		t.Errorf("Slots after reopen: got %d, want %d", kf2.Slots(), slots)
	}
	if got := len(kf2.Allocated()); got != len(want) {
		t.Errorf("allocated after reopen: got %d, want %d", got, len(want))
	}
	for s, k := range want {
		got, err := kf2.Get(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("slot %d after reopen: got %x, %v, want %x", s, got, err, k)
		}
	}
}

func TestCloseWipes(t *testing.T) {
	kf, _, _ := openTemp(t)
	s, _, err := kf.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	held := kf.keys[s]
	slotKey := kf.slotKey
	kf.Close()
	if *held != [KeySize]byte{} {
		t.Error("key still in memory after Close")
	}
	if !bytes.Equal(slotKey, make([]byte, len(slotKey))) {
		t.Error("slot key still in memory after Close")
	}
}

func TestWrongMaster(t *testing.T) {
	kf, path, _ := openTemp(t)
	if _, _, err := kf.Alloc(); err != nil {
		t.Fatal(err)
	}
	kf.Close()
	before, _ := os.ReadFile(path)
	if _, err := Open(path, newMaster()); !errors.Is(err, ErrWrongMaster) {
		t.Fatalf("Open with another master key: got %v, want ErrWrongMaster", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a failed Open changed the file")
	}
	if _, err := Open(path, make([]byte, 16)); err == nil {
		t.Error("Open with a 16-byte master key: got nil error")
	}
}

// TestForeignSlot moves a sealed slot to another index and into another
// file (another master key and salt): it must not authenticate there, so
// Get reports no key.
func TestForeignSlot(t *testing.T) {
	a, pathA, _ := openTemp(t)
	b, pathB, masterB := openTemp(t)
	for range 3 {
		if _, _, err := a.Alloc(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Alloc(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	rawA, _ := os.ReadFile(pathA)
	rawB, _ := os.ReadFile(pathB)
	slot := func(raw []byte, i int) []byte { return raw[HeaderSize+i*SlotSize : HeaderSize+(i+1)*SlotSize] }
	copy(slot(rawB, 1), slot(rawA, 1)) // from another file, same index
	copy(slot(rawB, 2), slot(rawB, 0)) // same file, other index
	if err := os.WriteFile(pathB, rawB, 0o600); err != nil {
		t.Fatal(err)
	}
	kf, err := Open(pathB, masterB)
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	for _, s := range []uint32{1, 2} {
		if _, err := kf.Get(s); !errors.Is(err, ErrNoKey) {
			t.Errorf("Get(%d) of a transplanted slot: got %v, want ErrNoKey", s, err)
		}
	}
	if _, err := kf.Get(0); err != nil {
		t.Errorf("Get(0): %v", err)
	}
}

func TestCorruptFiles(t *testing.T) {
	kf, path, master := openTemp(t)
	for range 3 {
		if _, _, err := kf.Alloc(); err != nil {
			t.Fatal(err)
		}
	}
	kf.Close()
	good, _ := os.ReadFile(path)
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"short header", good[:HeaderSize-1], ErrFormat},
		{"not a key file", bytes.Repeat([]byte("x"), 200), ErrFormat},
		{"newer version", func() []byte { b := bytes.Clone(good); b[9] = 2; return b }(), ErrVersion},
		{"slot size", func() []byte { b := bytes.Clone(good); b[11] = 32; return b }(), ErrFormat},
		{"reserved", func() []byte { b := bytes.Clone(good); b[15] = 1; return b }(), ErrFormat},
		{"salt", func() []byte { b := bytes.Clone(good); b[20] ^= 1; return b }(), ErrWrongMaster},
		{"check", func() []byte { b := bytes.Clone(good); b[40] ^= 1; return b }(), ErrWrongMaster},
	} {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(p, master); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if after, _ := os.ReadFile(p); !bytes.Equal(after, c.data) {
			t.Errorf("%s: Open changed the file", c.name)
		}
	}

	// A damaged slot loses that key only; a partial trailing slot (a crash
	// while growing) is ignored.
	b := bytes.Clone(good)
	b[HeaderSize+SlotSize+20] ^= 1
	b = append(b, 1, 2, 3)
	p := filepath.Join(dir, "damaged slot")
	os.WriteFile(p, b, 0o600)
	kf2, err := Open(p, master)
	if err != nil {
		t.Fatal(err)
	}
	defer kf2.Close()
	if got, want := fmt.Sprint(kf2.Allocated()), "[0 2]"; got != want {
		t.Errorf("allocated: got %s, want %s", got, want)
	}
	if _, err := kf2.Get(1); !errors.Is(err, ErrNoKey) {
		t.Errorf("damaged slot: got %v, want ErrNoKey", err)
	}
}

func TestConcurrent(t *testing.T) {
	kf, path, master := openTemp(t)
	const workers, rounds = 8, 25
	var mu sync.Mutex
	live := map[uint32][]byte{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			var mine []uint32
			for r := range rounds {
				s, k, err := kf.Alloc()
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if _, dup := live[s]; dup {
					mu.Unlock()
					errs <- fmt.Errorf("slot %d handed out twice", s)
					return
				}
				live[s] = k
				mu.Unlock()
				mine = append(mine, s)
				if (r+w)%2 == 0 {
					s := mine[0]
					mine = mine[1:]
					mu.Lock()
					delete(live, s)
					mu.Unlock()
					if err := kf.Destroy(s); err != nil {
						errs <- err
						return
					}
				}
				if len(mine) > 0 {
					mu.Lock()
					want := live[mine[0]]
					mu.Unlock()
					if got, err := kf.Get(mine[0]); err != nil || !bytes.Equal(got, want) {
						errs <- fmt.Errorf("Get(%d): got %x, %v, want %x", mine[0], got, err, want)
						return
					}
				}
				kf.Allocated()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	kf.Close()
	kf2, err := Open(path, master)
	if err != nil {
		t.Fatal(err)
	}
	defer kf2.Close()
	if got := len(kf2.Allocated()); got != len(live) {
		t.Errorf("allocated: got %d, want %d", got, len(live))
	}
	for s, k := range live {
		if got, err := kf2.Get(s); err != nil || !bytes.Equal(got, k) {
			t.Errorf("slot %d: got %x, %v, want %x", s, got, err, k)
		}
	}
}

func TestCreateDoesNotReplace(t *testing.T) {
	_, path, master := openTemp(t)
	// A second Open of an existing path reads it rather than creating.
	kf2, err := Open(path, master)
	if err != nil {
		t.Fatal(err)
	}
	kf2.Close()
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want 1 (no temporary files left)", len(entries))
	}
}

func TestDestroyMany(t *testing.T) {
	kf, path, _ := openTemp(t)
	var keys [][]byte
	for range 6 {
		_, k, err := kf.Alloc()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := kf.DestroyMany([]uint32{1, 4, 99999}); !errors.Is(err, ErrRange) {
		t.Fatalf("DestroyMany with a slot out of range: got %v, want ErrRange", err)
	}
	if got := fmt.Sprint(kf.Allocated()); got != "[0 1 2 3 4 5]" {
		t.Fatalf("a failed DestroyMany freed slots: allocated %s", got)
	}
	if err := kf.DestroyMany([]uint32{4, 1, 4}); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(kf.Allocated()), "[0 2 3 5]"; got != want {
		t.Errorf("allocated: got %s, want %s", got, want)
	}
	raw, _ := os.ReadFile(path)
	for _, i := range []int{1, 4} {
		if bytes.Contains(raw, keys[i]) {
			t.Errorf("destroyed key %d in the file", i)
		}
	}
	for _, want := range []uint32{1, 4} {
		if s, _, err := kf.Alloc(); err != nil || s != want {
			t.Errorf("Alloc after DestroyMany: got slot %d, %v, want %d", s, err, want)
		}
	}
}

// AllocKey stores the caller's key: it reads back, survives a reopen,
// is a copy (the caller's slice may be wiped), and bad sizes are refused.
func TestAllocKey(t *testing.T) {
	kf, path, master := openTemp(t)
	key := bytes.Repeat([]byte{0xa5}, KeySize)
	s, err := kf.AllocKey(key)
	if err != nil {
		t.Fatal(err)
	}
	clear(key)
	want := bytes.Repeat([]byte{0xa5}, KeySize)
	if got, err := kf.Get(s); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Get(%d): got %x, %v, want %x", s, got, err, want)
	}
	s2, _, err := kf.Alloc()
	if err != nil || s2 == s {
		t.Fatalf("Alloc after AllocKey: slot %d, %v; want a slot other than %d", s2, err, s)
	}
	for _, n := range []int{0, KeySize - 1, KeySize + 1} {
		if _, err := kf.AllocKey(make([]byte, n)); err == nil {
			t.Errorf("AllocKey of %d bytes: no error", n)
		}
	}
	kf.Close()
	if _, err := kf.AllocKey(want); !errors.Is(err, ErrClosed) {
		t.Errorf("AllocKey after Close: got %v, want ErrClosed", err)
	}
	kf2, err := Open(path, master)
	if err != nil {
		t.Fatal(err)
	}
	defer kf2.Close()
	if got, err := kf2.Get(s); err != nil || !bytes.Equal(got, want) {
		t.Errorf("after reopen: got %x, %v, want %x", got, err, want)
	}
}

// TestOpenMissingCreatesNothing: Open never makes a key file, since an
// empty one would stand for every key the lost file held; only Create
// makes one, and never over an existing file.
func TestOpenMissingCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	master := newMaster()
	if kf, err := Open(path, master); !errors.Is(err, fs.ErrNotExist) {
		if kf != nil {
			kf.Close()
		}
		t.Fatalf("Open of a missing file: got %v, want fs.ErrNotExist", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("Open of a missing file left %d files behind", len(ents))
	}
	kf, err := Create(path, master)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := kf.Alloc(); err != nil {
		t.Fatal(err)
	}
	kf.Close()
	before, _ := os.ReadFile(path)
	if _, err := Create(path, master); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing file: got %v, want fs.ErrExist", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("Create over an existing file changed it")
	}
}
