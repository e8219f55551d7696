package messenger

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/storage/stream"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// sendForgedFile uploads blob to Alice's relay and sends Bob a file
// message that names plain bytes of plaintext and the given hash, as a
// relay serving another blob (or a contact lying) would make it look.
func sendForgedFile(t *testing.T, alice *Messenger, relayURL, name string, blob []byte, plain int64, hash [32]byte) {
	t.Helper()
	c, err := alice.findContact("Bob")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := alice.readConn(alice.resolve(relayURL), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	id, err := rc.client.UploadBlob(ctx, c.Mine.ID, bytes.NewReader(blob), int64(len(blob)), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	fm := &message.File{Relay: relayURL, Size: uint64(plain), MediaType: "application/octet-stream", Name: name, BlobID: id, Hash: hash}
	rand.Read(fm.Key[:])
	err = alice.submit(&job{run: func(tx *vault.Tx) error {
		_, err := alice.queueWith(tx, c, nil, fm, message.Expiry{}, nil)
		return err
	}})
	if err != nil {
		t.Fatal(err)
	}
	alice.wakeOutbox()
}

// fileOf returns the file of Bob's last message from Alice if it is
// named name, else nil.
func fileOf(t *testing.T, bob *Messenger, name string) *FileInfo {
	t.Helper()
	h, err := bob.History("Alice", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) == 0 || h[0].File == nil || h[0].File.Name != name {
		return nil
	}
	return h[0].File
}

// A relay cannot make a download run on (issue 16 item 13): a blob
// bigger than the file message says is refused before it is read, and a
// blob that does not match the message's hash is fetched a bounded number
// of times; either way the file is marked failed, its message says why,
// and nothing is left running or on disk.
func TestDownloadBoundedByTheMessage(t *testing.T) {
	relayURL := startRelay(t)
	alice, _ := create(t, "Alice", relayURL)
	bob, bobDir := create(t, "Bob", relayURL)
	meet(t, alice, bob)
	sub := bob.Subscribe(1 << 12)
	defer sub.Close()

	const plain = 1000
	size := stream.EncryptedSize(plain)
	for _, tc := range []struct {
		name string
		blob []byte
		want FileFailure
	}{
		{"bigger blob", make([]byte, size+4<<20), FileWrongSize},
		{"smaller blob", make([]byte, size-1), FileWrongSize},
		{"blob of the right size that does not match the hash", make([]byte, size), FileDamaged},
	} {
		name := strings.ReplaceAll(tc.name, " ", "-") + ".bin"
		t.Run(tc.name, func(t *testing.T) {
			rand.Read(tc.blob)
			var hash [32]byte
			rand.Read(hash[:]) // matches nothing
			sendForgedFile(t, alice, relayURL, name, tc.blob, plain, hash)
			failed := func() bool { f := fileOf(t, bob, name); return f != nil && f.Failed != "" }
			if !syncFor(t, 2*time.Minute, failed, alice, bob) {
				t.Fatalf("Bob's file: %+v; want it failed (%s)", fileOf(t, bob, name), tc.want)
			}
			f := fileOf(t, bob, name)
			if f.Failed != tc.want || f.Have {
				t.Errorf("Bob's file: failed %q, have %v; want failed %q", f.Failed, f.Have, tc.want)
			}
			// Nothing runs any more: Sync waits for transfers.
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if err := bob.Sync(ctx, 200*time.Millisecond); err != nil {
				t.Fatalf("Bob still busy after the failure: %v", err)
			}
			ents, err := os.ReadDir(filepath.Join(bobDir, xferDir))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if len(ents) != 0 {
				t.Errorf("transfer folder after the failure: %d files", len(ents))
			}
			// The front end heard of it.
			h, _ := bob.History("Alice", 0, 1)
			deadline := time.After(time.Minute)
			for seen := false; !seen; {
				select {
				case e := <-sub.Events():
					if u, ok := e.(MessageUpdated); ok && u.Message.ID == h[0].ID && u.Message.File != nil && u.Message.File.Failed == tc.want {
						seen = true
					}
				case <-deadline:
					t.Fatalf("no MessageUpdated with the file failed (%s)", tc.want)
				}
			}
		})
	}

	// Download starts a failed file again, from a clean state.
	h, _ := bob.History("Alice", 0, 1)
	if err := bob.Download(h[0].ID); err != nil {
		t.Fatal(err)
	}
	if f := fileOf(t, bob, "blob-of-the-right-size-that-does-not-match-the-hash.bin"); f == nil || f.Failed != "" {
		t.Errorf("after Download: %+v, want not failed", f)
	}
	failedAgain := func() bool {
		f := fileOf(t, bob, "blob-of-the-right-size-that-does-not-match-the-hash.bin")
		return f != nil && f.Failed == FileDamaged
	}
	if !syncFor(t, 2*time.Minute, failedAgain, bob) {
		t.Fatalf("after Download: %+v, want failed again (damaged)", fileOf(t, bob, "blob-of-the-right-size-that-does-not-match-the-hash.bin"))
	}
}

// A genuine file still downloads, with its size checked.
func TestDownloadOfAGenuineFile(t *testing.T) {
	relayURL := startRelay(t)
	alice, _ := create(t, "Alice", relayURL)
	bob, _ := create(t, "Bob", relayURL)
	meet(t, alice, bob)
	plain := make([]byte, 5000)
	rand.Read(plain)
	var key [32]byte
	rand.Read(key[:])
	var enc bytes.Buffer
	w, err := stream.NewWriter(&enc, key[:])
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(enc.Bytes())
	c, _ := alice.findContact("Bob")
	rc, err := alice.readConn(alice.resolve(relayURL), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	id, err := rc.client.UploadBlob(t.Context(), c.Mine.ID, bytes.NewReader(enc.Bytes()), int64(enc.Len()), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	fm := &message.File{Relay: relayURL, Size: uint64(len(plain)), MediaType: "application/octet-stream", Name: "real.bin", BlobID: id, Key: key, Hash: sum}
	if err := alice.submit(&job{run: func(tx *vault.Tx) error { _, err := alice.queueWith(tx, c, nil, fm, message.Expiry{}, nil); return err }}); err != nil {
		t.Fatal(err)
	}
	alice.wakeOutbox()
	have := func() bool { f := fileOf(t, bob, "real.bin"); return f != nil && f.Have }
	if !syncFor(t, 2*time.Minute, have, alice, bob) {
		t.Fatalf("Bob's file: %+v, want it downloaded", fileOf(t, bob, "real.bin"))
	}
	out := filepath.Join(t.TempDir(), "out.bin")
	h, _ := bob.History("Alice", 0, 1)
	if err := bob.SaveFile(h[0].ID, out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, plain) {
		t.Errorf("saved %d bytes (%s…), want the %d sent", len(got), hex.EncodeToString(got[:min(8, len(got))]), len(plain))
	}
}
