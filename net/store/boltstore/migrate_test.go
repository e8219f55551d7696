package boltstore

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// TestMigrateFormat1ChargesPrekeys: a relay.db of format 1, whose byte
// counters left prekeys out, gets them added on Open, so claims later
// release only what was charged.
func TestMigrateFormat1ChargesPrekeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	id := wire.MailboxID{1}
	if err := s.Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, id, store.Envelope{Data: []byte("envelope")}, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPrekeys(ctx, id, []byte("bundle"), []byte("last"), [][]byte{[]byte("k1"), []byte("k2")}, false, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	const envelope, prekeys = 8, 6 + 4 + 2 + 2
	if u, _ := s.Usage(ctx, id); u.Bytes != envelope+prekeys {
		t.Fatalf("Usage.Bytes: got %d, want %d", u.Bytes, envelope+prekeys)
	}
	s.Close()

	// Make it a format 1 file: counters without prekeys.
	db, err := bolt.Open(dir+"/relay.db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		m, _, err := getMailbox(tx, id)
		if err != nil {
			return err
		}
		m.Bytes = envelope
		if err := putMailbox(tx, id, &m); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaFormat, []byte{1})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u, _ := s.Usage(ctx, id); u.Bytes != envelope+prekeys {
		t.Errorf("Usage.Bytes after migration: got %d, want %d", u.Bytes, envelope+prekeys)
	}
	if _, err := s.ClaimPrekey(ctx, id); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Usage(ctx, id); u.Bytes != envelope+prekeys-2 {
		t.Errorf("Usage.Bytes after a claim: got %d, want %d", u.Bytes, envelope+prekeys-2)
	}
	var format []byte
	s.db.View(func(tx *bolt.Tx) error { format = append(format, tx.Bucket(bucketMeta).Get(metaFormat)...); return nil })
	if len(format) != 1 || format[0] != formatVersion {
		t.Errorf("format after migration: got %x, want %d", format, formatVersion)
	}
}
