package boltstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ephemera-im/ephemera/internal/boltcheck"
	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/store/storetest"
	"github.com/ephemera-im/ephemera/net/wire"
)

var (
	ctx   = context.Background()
	start = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	owner = wire.Key32{1}
	mb    = wire.MailboxID{1}
	blob  = wire.BlobID{2}
)

func openAt(t *testing.T, dir string, clock *storetest.Clock) *Store {
	t.Helper()
	s, err := Open(dir, Options{Now: clock.Now, NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// editDB changes relay.db directly while no store has it open.
func editDB(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "relay.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptRecords(t *testing.T) {
	clock := storetest.NewClock(start)
	dir := t.TempDir()
	s := openAt(t, dir, clock)
	if err := s.Register(ctx, mb, store.Mailbox{OwnerKey: owner}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, mb, store.Envelope{Data: []byte("hi")}, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	cases := []struct {
		name  string
		edit  func(tx *bolt.Tx) error
		check func(s *Store) error
	}{
		{"short mailbox", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMailboxes).Put(mb[:], []byte{recordVersion, 1, 2})
		}, func(s *Store) error { _, err := s.Usage(ctx, mb); return err }},
		{"mailbox counts more than stored", func(tx *bolt.Tx) error {
			m := mailboxRecord{Owner: owner, LastSeq: 1, Messages: 2}
			return tx.Bucket(bucketMailboxes).Put(mb[:], m.encode())
		}, func(s *Store) error {
			_, err := s.Append(ctx, mb, store.Envelope{Data: []byte("x")}, store.Quota{})
			return err
		}},
		{"envelope version", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketEnvelopes).Put(envKey(mb, 1), make([]byte, envelopeHeaderSize))
		}, func(s *Store) error { _, err := s.Fetch(ctx, mb, 0, 0); return err }},
		{"envelope truncated", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketEnvelopes).Put(envKey(mb, 1), []byte{recordVersion})
		}, func(s *Store) error { _, err := s.Delete(ctx, mb, []uint64{1}); return err }},
		{"expiry key", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketExpiry).Put([]byte{0, 0, 0, 0, 0, 0, 0, 1, 'x'}, nil)
		}, func(s *Store) error { _, err := s.Sweep(ctx, start); return err }},
		{"blob have past size", func(tx *bolt.Tx) error {
			r := blobRecord{Owner: mb, Size: 1, Have: 2}
			return tx.Bucket(bucketBlobs).Put(blob[:], r.encode())
		}, func(s *Store) error { _, err := s.BlobInfo(ctx, blob); return err }},
		{"huge bundle", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketPrekeys).Put(prekeyKey(mb, prekeyBundle), make([]byte, wire.MaxPrekeySize+1))
		}, func(s *Store) error { _, err := s.ClaimPrekey(ctx, mb); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			copyFile(t, filepath.Join(dir, "relay.db"), filepath.Join(d, "relay.db"))
			editDB(t, d, c.edit)
			s := openAt(t, d, clock)
			if err := c.check(s); !errors.Is(err, ErrCorrupt) {
				t.Errorf("got error %v, want ErrCorrupt", err)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A crash after the blob's bytes reached its file but before Have moved
// leaves a tail past Have: it is never read, and the resumed upload
// overwrites it.
func TestBlobTailPastHave(t *testing.T) {
	clock := storetest.NewClock(start)
	dir := t.TempDir()
	s := openAt(t, dir, clock)
	if err := s.Register(ctx, mb, store.Mailbox{OwnerKey: owner}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBlob(ctx, blob, store.Blob{Owner: mb, Size: 10}, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteBlob(ctx, blob, 0, []byte("01234")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	f, err := os.OpenFile(s.blobPath(blob), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("GARBAGE"))
	f.Close()

	s = openAt(t, dir, clock)
	p := make([]byte, 10)
	n, err := s.ReadBlob(ctx, blob, 0, p)
	if string(p[:n]) != "01234" || err != io.EOF {
		t.Errorf("ReadBlob with a tail past Have: got %q, %v, want 01234, EOF", p[:n], err)
	}
	if have, err := s.WriteBlob(ctx, blob, 5, []byte("56789")); have != 10 || err != nil {
		t.Fatalf("WriteBlob resumed: got %d, %v, want 10, nil", have, err)
	}
	n, err = s.ReadBlob(ctx, blob, 0, p)
	if string(p[:n]) != "0123456789" || err != nil {
		t.Errorf("ReadBlob: got %q, %v, want 0123456789, nil", p[:n], err)
	}
}

func TestBlobFiles(t *testing.T) {
	clock := storetest.NewClock(start)
	dir := t.TempDir()
	s := openAt(t, dir, clock)
	if err := s.Register(ctx, mb, store.Mailbox{OwnerKey: owner}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBlob(ctx, blob, store.Blob{Owner: mb, Size: 3, Expires: start.Add(time.Minute)}, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteBlob(ctx, blob, 0, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	path := s.blobPath(blob)
	if b, err := os.ReadFile(path); string(b) != "abc" || err != nil {
		t.Fatalf("blob file: got %q, %v, want abc", b, err)
	}
	clock.Advance(time.Minute)
	if _, err := s.Sweep(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("blob file after Sweep: got %v, want it gone", err)
	}

	// A file with no record (Sweep committed, then the relay stopped) is
	// removed on open; files that are not blob names are left alone.
	s.Close()
	orphan := filepath.Join(dir, "blobs", "00"+string(bytes.Repeat([]byte("ab"), 31)))
	other := filepath.Join(dir, "blobs", "README")
	os.WriteFile(orphan, []byte("x"), 0o600)
	os.WriteFile(other, []byte("x"), 0o600)
	openAt(t, dir, clock)
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan blob file after open: got %v, want it gone", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("non-blob file after open: got %v, want it kept", err)
	}
}

// Sweep works through a backlog larger than one transaction's chunk.
func TestSweepChunks(t *testing.T) {
	defer func(n int) { sweepChunk = n }(sweepChunk)
	sweepChunk = 7
	clock := storetest.NewClock(start)
	s := openAt(t, t.TempDir(), clock)
	if err := s.Register(ctx, mb, store.Mailbox{OwnerKey: owner}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			exp := start.Add(time.Duration(i%5+1) * time.Second)
			if _, err := s.Append(ctx, mb, store.Envelope{Data: []byte("x"), Expires: exp}, store.Quota{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := s.Append(ctx, mb, store.Envelope{Data: []byte("keep")}, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Sweep(ctx, start.Add(time.Hour))
	if got != n || err != nil {
		t.Errorf("Sweep: got %d, %v, want %d, nil", got, err, n)
	}
	if u, _ := s.Usage(ctx, mb); u != (store.Usage{Messages: 1, Bytes: 4}) {
		t.Errorf("Usage: got %+v, want 1 message, 4 bytes", u)
	}
}

func TestCheckWrites(t *testing.T) {
	clock := storetest.NewClock(start)
	s := openAt(t, t.TempDir(), clock)
	stats := s.db.Stats()
	before := stats.TxStats.GetWrite()
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	stats = s.db.Stats()
	if after := stats.TxStats.GetWrite(); after == before {
		t.Errorf("Check wrote %d pages, want a write transaction", after-before)
	}
}

// A damaged relay.db (the desktop app keeps its embedded relay's inside
// the profile) is an error from Open, not a panic in bbolt's freelist
// rebuild, and is left as it is.
func TestOpenDamagedDB(t *testing.T) {
	dir := t.TempDir()
	clock := storetest.NewClock(start)
	s, err := Open(dir, Options{Now: clock.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, "relay.db")
	ps, _, pages, err := boltcheck.Pages(path)
	if err != nil {
		t.Fatalf("pristine relay.db: %v", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range pages {
		bad := bytes.Clone(raw)
		copy(bad[int(id)*ps:], bytes.Repeat([]byte{0x5a}, 64))
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{Now: clock.Now, NoSync: true})
		if err == nil {
			s.Close()
			t.Fatalf("page %d damaged: Open succeeded", id)
		}
		if !errors.Is(err, boltcheck.ErrDamaged) {
			t.Errorf("page %d damaged: got %v, want boltcheck.ErrDamaged", id, err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
			t.Errorf("page %d damaged: Open changed relay.db", id)
		}
	}
}
