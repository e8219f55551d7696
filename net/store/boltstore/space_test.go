package boltstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// TestFullStoreKeepsRoomForDeletes fills a store bounded by MaxBytes with
// envelopes, prekeys and blobs until it refuses them, and checks that it
// stays under the bound, that Check then fails, and that every envelope
// can still be deleted (acknowledged) and the space used again, the file
// not growing past the bound.
func TestFullStoreKeepsRoomForDeletes(t *testing.T) {
	const maxBytes, reserve = 2 << 20, 256 << 10
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{MaxBytes: maxBytes, Reserve: reserve})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := wire.MailboxID{1}
	if err := s.Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
		t.Fatal(err)
	}
	env := make([]byte, 16<<10)
	var seqs []uint64
	for i := 0; ; i++ {
		if i > maxBytes/len(env)+10 {
			t.Fatalf("%d envelopes of %d bytes stored under a %d-byte bound", i, len(env), maxBytes)
		}
		seq, err := s.Append(ctx, id, store.Envelope{Data: env}, store.Quota{})
		if errors.Is(err, store.ErrFull) {
			break
		}
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		seqs = append(seqs, seq)
	}
	if len(seqs) < (maxBytes-reserve)/len(env)/2 {
		t.Errorf("only %d envelopes stored before full", len(seqs))
	}
	// Every kind of write that adds as much is refused; Check says the
	// store cannot take a largest envelope.
	if _, err := s.PutPrekeys(ctx, id, nil, nil, [][]byte{make([]byte, 16<<10), make([]byte, 16<<10)}, false, store.Quota{}); !errors.Is(err, store.ErrFull) {
		t.Errorf("PutPrekeys when full: got %v, want ErrFull", err)
	}
	if err := s.CreateBlob(ctx, wire.BlobID{1}, store.Blob{Owner: id, Size: 64 << 10}, store.Quota{}); !errors.Is(err, store.ErrFull) {
		t.Errorf("CreateBlob when full: got %v, want ErrFull", err)
	}
	if err := s.Check(ctx); !errors.Is(err, store.ErrFull) {
		t.Errorf("Check when full: got %v, want ErrFull", err)
	}
	// Tiny envelopes fill the rest, to the last bytes above the reserve.
	for i := 0; ; i++ {
		if i > 16<<10 {
			t.Fatal("tiny envelopes never filled the store")
		}
		seq, err := s.Append(ctx, id, store.Envelope{Data: []byte("tiny")}, store.Quota{})
		if errors.Is(err, store.ErrFull) {
			break
		}
		if err != nil {
			t.Fatalf("tiny Append %d: %v", i, err)
		}
		seqs = append(seqs, seq)
	}
	if err := s.Register(ctx, wire.MailboxID{2}, store.Mailbox{OwnerKey: wire.Key32{2}}); !errors.Is(err, store.ErrFull) {
		t.Errorf("Register when full: got %v, want ErrFull", err)
	}
	// Re-registering an existing mailbox adds nothing and is allowed.
	if err := s.Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}, SendTokenHash: wire.Key32{9}}); err != nil {
		t.Errorf("re-Register when full: %v", err)
	}
	fileSize := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, "relay.db"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if n := fileSize(); n > maxBytes {
		t.Errorf("relay.db is %d bytes, bound %d", n, maxBytes)
	}
	// Acks: one envelope at a time, as clients ack, all succeed, into
	// the reserve.
	for _, seq := range seqs {
		if n, err := s.Delete(ctx, id, []uint64{seq}); err != nil || n != 1 {
			t.Fatalf("Delete %d when full: got %d, %v", seq, n, err)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check after the deletes: %v", err)
	}
	// The freed pages take new envelopes without growing the file past
	// the bound.
	for i := range (maxBytes - reserve) / len(env) / 2 {
		if _, err := s.Append(ctx, id, store.Envelope{Data: env}, store.Quota{}); err != nil {
			t.Fatalf("Append %d after the deletes: %v", i, err)
		}
	}
	if n := fileSize(); n > maxBytes {
		t.Errorf("relay.db is %d bytes after reuse, bound %d", n, maxBytes)
	}
}

// TestDiskReserve: with free disk space below the reserve (here a reserve
// larger than any disk), writes that add data are refused and Check
// fails, with no MaxBytes set; deletions still work.
func TestDiskReserve(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := wire.MailboxID{1}
	if err := s.Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
		t.Fatal(err)
	}
	seq, err := s.Append(ctx, id, store.Envelope{Data: []byte("x")}, store.Quota{})
	if err != nil {
		t.Fatal(err)
	}
	if diskFree(s.space.dir) < 0 {
		t.Fatalf("free disk space unknown on this system")
	}
	s.space.reserve = 1 << 62
	if _, err := s.Append(ctx, id, store.Envelope{Data: []byte("y")}, store.Quota{}); !errors.Is(err, store.ErrFull) {
		t.Errorf("Append with the disk below the reserve: got %v, want ErrFull", err)
	}
	if err := s.Check(ctx); !errors.Is(err, store.ErrFull) {
		t.Errorf("Check with the disk below the reserve: got %v, want ErrFull", err)
	}
	if n, err := s.Delete(ctx, id, []uint64{seq}); err != nil || n != 1 {
		t.Errorf("Delete with the disk below the reserve: got %d, %v", n, err)
	}
}
