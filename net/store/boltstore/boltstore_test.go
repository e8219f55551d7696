package boltstore

import (
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/store/storetest"
)

// openFactory returns a storetest.Factory of stores in fresh temporary
// directories.
func openFactory(opts Options) storetest.Factory {
	return func(t *testing.T, now func() time.Time) (store.Store, func() store.Store) {
		dir := t.TempDir()
		open := func() *Store {
			o := opts
			o.Now = now
			s, err := Open(dir, o)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		cur := open()
		return cur, func() store.Store {
			cur.Close() // ErrClosed if the test closed it
			cur = open()
			return cur
		}
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, openFactory(Options{}))
}
