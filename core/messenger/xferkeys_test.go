package messenger

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/net/relay/embedded"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// The transfer key and hash of a file live only in its message's record
// (sealed under the message's own key slot when it disappears), never in
// the ordinary transfer record; a burn-on-read file's blob lives on the
// relay about as long as the message, not the relay's 30 days (issue 16
// item 11).
func TestTransferKeysOnlyInTheMessage(t *testing.T) {
	r, err := embedded.Start(t.Context(), embedded.Options{DataDir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := create(t, "Alice", r.URL())
	bob, _ := create(t, "Bob", r.URL())
	meet(t, alice, bob)
	// With the relay gone, uploads wait: their records stay to be read.
	r.Close()
	path := filepath.Join(t.TempDir(), "notes.bin")
	if err := os.WriteFile(path, []byte("secret file contents"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		opts    SendOptions
		wantTTL time.Duration
	}{
		{"expires an hour after sending", SendOptions{Expire: time.Hour}, time.Hour},
		{"burns a minute after reading", SendOptions{Burn: time.Minute}, minBurnBlobTTL},
		{"burns two days after reading", SendOptions{Burn: 48 * time.Hour}, 48 * time.Hour},
		{"does not expire", SendOptions{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, _, err := alice.SendFile(t.Context(), "Bob", path, FileOptions{SendOptions: tc.opts, AsIs: true})
			if err != nil {
				t.Fatal(err)
			}
			x, err := getJSON[xferRec](alice.v.Setting(setXferItem + msg.ID))
			if err != nil {
				t.Fatalf("the upload's record: %v", err)
			}
			if len(x.Key) != 0 || len(x.Hash) != 0 {
				t.Errorf("the transfer record holds the key (%d bytes) and hash (%d bytes); want neither", len(x.Key), len(x.Hash))
			}
			if x.TTL != tc.wantTTL {
				t.Errorf("blob TTL: got %v, want %v", x.TTL, tc.wantTTL)
			}
			var vm vault.Message
			var rec *msgRec
			err = alice.v.View(func(tx *vault.Tx) error {
				var err error
				vm, rec, err = messageByID(tx, msg.ID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.File.Key) != 32 || len(rec.File.Hash) != 32 {
				t.Errorf("the message's record: key %d bytes, hash %d; want 32 each", len(rec.File.Key), len(rec.File.Hash))
			}
			if tc.wantTTL != 0 && vm.Expires.IsZero() {
				t.Error("a disappearing file's message record does not expire")
			}
		})
	}
	if got := blobTTL(message.Expiry{Timer: 30, BurnOnRead: true}); got != minBurnBlobTTL {
		t.Errorf("burn-on-read 30 s: blob TTL %v, want %v", got, minBurnBlobTTL)
	}
}
