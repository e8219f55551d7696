package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// One write that fails or panics gets its own error and changes nothing;
// the writes that shared its transaction are committed without it.
func TestCommitterIsolatesFailures(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	c := newCommitter(db, 0, 0)
	defer c.close()
	errBad := errors.New("bad")
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = c.write(func(tx *bolt.Tx) error {
				if err := tx.Bucket([]byte("b")).Put(fmt.Appendf(nil, "%03d", i), []byte{1}); err != nil {
					return err
				}
				switch i % 10 {
				case 3:
					return errBad
				case 7:
					panic("boom")
				}
				return nil
			})
		})
	}
	wg.Wait()
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i := range n {
			stored := b.Get(fmt.Appendf(nil, "%03d", i)) != nil
			switch i % 10 {
			case 3:
				if !errors.Is(errs[i], errBad) || stored {
					t.Errorf("write %d: got %v, stored %t, want %v, not stored", i, errs[i], stored, errBad)
				}
			case 7:
				if errs[i] == nil || stored {
					t.Errorf("write %d (panics): got %v, stored %t, want an error, not stored", i, errs[i], stored)
				}
			default:
				if errs[i] != nil || !stored {
					t.Errorf("write %d: got %v, stored %t, want nil, stored", i, errs[i], stored)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Writes queued together share a commit.
func TestCommitterShares(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := newCommitter(db, 0, 0)
	defer c.close()
	release := make(chan struct{})
	started := make(chan struct{})
	go c.write(func(*bolt.Tx) error { close(started); <-release; return nil }) // holds the writer
	<-started
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := c.write(func(*bolt.Tx) error { return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	for {
		c.mu.Lock()
		queued := len(c.queue)
		c.mu.Unlock()
		if queued == n {
			break
		}
		runtime.Gosched()
	}
	var before int
	db.View(func(tx *bolt.Tx) error { before = int(tx.ID()); return nil })
	close(release)
	wg.Wait()
	var after int
	db.View(func(tx *bolt.Tx) error { after = int(tx.ID()); return nil })
	if after-before != 2 {
		t.Errorf("%d queued writes took %d commits after the one in progress, want 1", n, after-before-1)
	}
}
