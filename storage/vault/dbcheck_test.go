package vault

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/internal/boltcheck"
)

// dbFixture is a closed vault with enough records for vault.db to have
// branch pages, several leaf pages and overflow pages, and its pristine
// bytes.
type dbFixture struct {
	dir  string
	db   []byte
	ps   int
	hwm  int
	live []uint64 // pages reachable from the root (first pages, not overflow)
}

func newDBFixture(t testing.TB) *dbFixture {
	t.Helper()
	v, dir := newVault(t)
	for i := range 400 {
		body := bytes.Repeat([]byte{byte(i)}, 200)
		if i%50 == 0 {
			body = bytes.Repeat([]byte{byte(i)}, 20000) // overflow pages
		}
		m := Message{Conversation: fmt.Sprint("c", i%7), Time: time.Unix(int64(i), 0), Body: body}
		if _, err := v.AddMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	v.Close()
	raw, err := os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	fx := &dbFixture{dir: dir, db: raw}
	ps, hwm, live, err := boltcheck.Pages(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatalf("pristine vault.db: %v", err)
	}
	fx.ps, fx.hwm, fx.live = ps, int(hwm), live
	slices.Sort(fx.live)
	if len(fx.live) < 10 {
		t.Fatalf("only %d live pages: the damage below would prove little", len(fx.live))
	}
	return fx
}

// openDamaged writes db as vault.db, opens the vault and checks that
// it either opens or fails with ErrDamaged (or ErrNewerVersion), changing
// no file when it fails. It returns Open's error.
func (fx *dbFixture) openDamaged(t testing.TB, db []byte) error {
	t.Helper()
	path := filepath.Join(fx.dir, DBFile)
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	before := hashTree(t, fx.dir)
	v, err := Open(fx.dir, testPass, testOpts())
	if err == nil {
		v.Close()
		return nil
	}
	// vault.db's data version is a clear field: damaged into a larger
	// number it reads as a newer program's vault, which is refused too.
	if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrNewerVersion) {
		t.Fatalf("got %v, want ErrDamaged", err)
	}
	for name, h := range hashTree(t, fx.dir) {
		if before[name] != h {
			t.Fatalf("a failed Open changed %s", name)
		}
	}
	return err
}

// TestDamagedDB truncates and overwrites vault.db at meta pages, the
// root, branch, leaf and overflow pages: Open says the file is damaged
// (ErrDamaged, naming vault.db) and changes nothing, where before it
// ended in a panic in bbolt's freelist goroutine that took the process
// down.
func TestDamagedDB(t *testing.T) {
	fx := newDBFixture(t)
	ps, end := fx.ps, fx.hwm*fx.ps
	page := func(id uint64) int { return int(id) * ps }
	overwrite := func(off int, b []byte) []byte {
		d := bytes.Clone(fx.db)
		copy(d[off:], b)
		return d
	}
	garbage := func(n int, seed uint64) []byte {
		r := rand.New(rand.NewPCG(seed, 1))
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	cases := map[string][]byte{
		"truncated into its last page": fx.db[:end-1],
		"truncated to half":            fx.db[:end/2],
		"truncated to three pages":     fx.db[:3*ps],
		"truncated after the metas":    fx.db[:2*ps],
		"truncated inside meta 1":      fx.db[:ps+100],
		"both metas overwritten":       overwrite(0, garbage(2*ps, 1)),
		"both metas zeroed":            overwrite(0, make([]byte, 2*ps)),
	}
	for i, id := range []uint64{fx.live[0], fx.live[len(fx.live)/3], fx.live[len(fx.live)/2], fx.live[len(fx.live)-1]} {
		cases[fmt.Sprintf("page %d (%d) garbage", id, i)] = overwrite(page(id), garbage(ps, id))
		cases[fmt.Sprintf("page %d (%d) zeroed", id, i)] = overwrite(page(id), make([]byte, ps))
		cases[fmt.Sprintf("page %d (%d) header", id, i)] = overwrite(page(id), garbage(16, id+1))
		cases[fmt.Sprintf("page %d (%d) id", id, i)] = overwrite(page(id), []byte{byte(id + 1)})
		cases[fmt.Sprintf("page %d (%d) elements", id, i)] = overwrite(page(id)+16, bytes.Repeat([]byte{0xff}, 64))
	}
	for name, db := range cases {
		t.Run(name, func(t *testing.T) {
			err := fx.openDamaged(t, db)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if !bytes.Contains([]byte(err.Error()), []byte(DBFile)) {
				t.Errorf("error %q does not name %s", err, DBFile)
			}
		})
	}
	// Restored, it opens and reads.
	if err := os.WriteFile(filepath.Join(fx.dir, DBFile), fx.db, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := Open(fx.dir, testPass, testOpts())
	if err != nil {
		t.Fatalf("restored: %v", err)
	}
	defer v.Close()
	if ms, err := v.Messages("c0", 0, 1000); err != nil || len(ms) != 58 {
		t.Errorf("restored: %d messages, %v; want 58", len(ms), err)
	}
}

// TestDamagedDBRandom overwrites random bytes of vault.db, a few at a
// time and whole runs: Open never panics, and either opens (the damage
// hit free space, or record contents that the AEAD then refuses) or
// fails with ErrDamaged without changing a file.
func TestDamagedDBRandom(t *testing.T) {
	fx := newDBFixture(t)
	r := rand.New(rand.NewPCG(16, 4))
	n := 300
	if testing.Short() {
		n = 60
	}
	failed := 0
	for i := range n {
		db := bytes.Clone(fx.db)
		switch i % 3 {
		case 0: // a few scattered bytes
			for range 1 + r.IntN(8) {
				db[r.IntN(len(db))] = byte(r.Uint32())
			}
		case 1: // a run in a live page
			id := fx.live[r.IntN(len(fx.live))]
			off := int(id)*fx.ps + r.IntN(fx.ps)
			for j := off; j < min(off+1+r.IntN(64), len(db)); j++ {
				db[j] = byte(r.Uint32())
			}
		case 2: // a cut anywhere
			db = db[:r.IntN(len(db))]
		}
		if err := fx.openDamaged(t, db); err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Error("no damage was detected: the test proves nothing")
	}
}

// FuzzDamagedDB: whatever bytes overwrite vault.db at whatever offset,
// Open does not panic, and fails with ErrDamaged (ErrNewerVersion for a
// data version made larger) changing no file, or opens. The seeds in
// testdata/fuzz are what it found: a record's damaged seal byte (then
// ErrCorrupt, not yet worded as the file's damage) and a damaged version.
func FuzzDamagedDB(f *testing.F) {
	fx := newDBFixture(f)
	f.Add(uint32(0), []byte{0})
	f.Add(uint32(fx.live[0])*uint32(fx.ps), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint32(fx.live[0])*uint32(fx.ps)+8, []byte{0xff, 0xff})
	f.Add(uint32(fx.ps)+16, bytes.Repeat([]byte{0xaa}, 64))
	f.Fuzz(func(t *testing.T, off uint32, b []byte) {
		db := bytes.Clone(fx.db)
		o := int(off) % len(db)
		copy(db[o:], b)
		fx.openDamaged(t, db)
	})
}
