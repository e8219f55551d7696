package vault

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ephemera-im/ephemera/storage/keyslots"
	"golang.org/x/crypto/chacha20poly1305"
)

// KeysFile is the key-slot file (storage/keyslots) next to vault.db that
// holds the per-message keys of messages that can expire.
const KeysFile = "vault.keys"

const (
	labelKeySlots = "ephemera vault v1 key slots"
	msgADLabel    = "ephemera vault v1 message\x00" // schema version 3: then the record key
	msgADLabelV4  = "ephemera vault v4 message\x00" // since 4: then seq and conversation (msgAD)
)

// errShredPending: an expiry destroyed key slots but its transaction did
// not commit. Until an ExpireDue succeeds, no slot is allocated, so a
// record still naming a destroyed slot cannot come to name a new key.
var errShredPending = errors.New("vault: an expiry did not complete; retry ExpireDue")

// keySlotsMaster derives the key file's master key from the vault's.
func keySlotsMaster(master []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, master, nil, labelKeySlots, keySize)
}

func openKeySlots(dir string, master []byte) (*keyslots.File, error) {
	km, err := keySlotsMaster(master)
	if err != nil {
		return nil, err
	}
	defer clear(km)
	return keyslots.Open(filepath.Join(dir, KeysFile), km)
}

// sealMessage seals a message's encoding under its own key, bound by
// the associated data ad to its place (msgAD): nonce || ciphertext.
func sealMessage(key, ad, pt []byte) []byte {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic(err) // key slots hold keySize-byte keys
	}
	out := make([]byte, nonceSize, nonceSize+len(pt)+aead.Overhead())
	rand.Read(out)
	return aead.Seal(out, out, pt, ad)
}

func openMessage(key, ad, sealed []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("%w: message key: %v", ErrCorrupt, err)
	}
	if len(sealed) < nonceSize+aead.Overhead() {
		return nil, fmt.Errorf("%w: sealed message of %d bytes", ErrCorrupt, len(sealed))
	}
	pt, err := aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: sealed message fails to open", ErrCorrupt)
	}
	return pt, nil
}

// reconcile runs in Open before anything is readable. It deletes the
// records of messages whose key slot is gone (a crash or failed commit
// after the slots were destroyed, or a missing key file); goes through
// the blob folder (cleanBlobs); then destroys the slots that hold a key
// no record names (a crash between Alloc and the commit of a message or
// attachment, or between an attachment's deletion and its slot's
// overwriting).
func (v *Vault) reconcile() error {
	allocated := v.ks.Allocated()
	var used []uint32
	var stray []string
	err := v.Update(func(t *Tx) error {
		refs, _, err := t.expiryIndex(func(*expiryEntry) bool { return true })
		if err != nil {
			return err
		}
		for _, x := range refs {
			if _, ok := slices.BinarySearch(allocated, x.Slot); ok {
				used = append(used, x.Slot)
				continue
			}
			if err := t.deleteMessage(x.Conversation, x.Seq, nil); err != nil {
				return err
			}
		}
		att, s, err := t.cleanBlobs(allocated)
		used = append(used, att...)
		stray = s
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range stray {
		os.Remove(p)
	}
	slices.Sort(used)
	var orphans []uint32
	for _, s := range allocated {
		if _, ok := slices.BinarySearch(used, s); !ok {
			orphans = append(orphans, s)
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	return v.ks.DestroyMany(orphans)
}

// cleanBlobs goes through the blob folder at Open and returns the key
// slots of the attachments that stay, and the paths of stray files to
// remove: temporary files of interrupted writes, and blobs without a
// record (a crash before PutAttachment's commit, or after a deletion's
// commit but before the blob's removal). It deletes (dropAttachment)
// the attachments whose key slot is gone and those whose owning message
// is gone or unreadable (it expired, with a crash before its
// attachments were deleted). allocated is sorted.
func (t *Tx) cleanBlobs(allocated []uint32) (used []uint32, stray []string, err error) {
	dir := filepath.Join(t.v.dir, BlobDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, blobTempPrefix) {
			stray = append(stray, filepath.Join(dir, name))
			continue
		}
		id := AttachmentID(name)
		if !id.valid() || !e.Type().IsRegular() {
			continue // not ours: left alone
		}
		r, ok, err := t.attachment(id)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			stray = append(stray, filepath.Join(dir, name))
			continue
		}
		slot := uint32(r.Slot - 1)
		gone := false
		if _, live := slices.BinarySearch(allocated, slot); !live {
			gone = true
		} else if r.Seq != 0 {
			// Only a message known to be gone frees its attachments; a
			// damaged record keeps them (and does not stop Open).
			_, _, err := t.message(r.Conversation, r.Seq)
			gone = errors.Is(err, ErrNotFound)
		}
		if gone {
			if err := t.dropAttachment(id, r); err != nil {
				return nil, nil, err
			}
			continue
		}
		used = append(used, slot)
	}
	return used, stray, nil
}

// Burn expires a message that can expire (Expires or BurnOnRead set) now:
// its expiry becomes the clock's now and ExpireDue runs, destroying its
// key. The GUI calls it once a burn-on-read message has been shown. It
// returns what ExpireDue expired (the message, and anything else due);
// a message that cannot expire, or is already gone, is ErrNotFound.
func (v *Vault) Burn(conversation string, seq uint64) ([]Message, error) {
	now := v.now()
	err := v.Update(func(t *Tx) error {
		_, pt, err := t.get(bucketExpiry, tExpiry, conversation, seq)
		if err == nil && pt == nil {
			err = ErrNotFound
		}
		if err != nil {
			return err
		}
		x, err := decodeExpiry(pt)
		if err != nil {
			return err
		}
		x.Expires = now
		t.minDue = timeToNanos(now)
		return t.put(bucketExpiry, tExpiry, conversation, seq, x.encode())
	})
	if err != nil {
		return nil, fmt.Errorf("vault: burn: %w", err)
	}
	return v.ExpireDue(now)
}

// expiryLoop runs ExpireDue on every tick until stop is closed or the
// vault is locked.
func (v *Vault) expiryLoop(tick <-chan time.Time, stopTicker func(), stop <-chan struct{}) {
	defer stopTicker()
	for {
		select {
		case <-stop:
			return
		case <-tick:
		}
		msgs, err := v.ExpireDue(v.now())
		if errors.Is(err, ErrLocked) {
			return
		}
		if v.opts.OnExpire != nil && (len(msgs) > 0 || err != nil) {
			v.opts.OnExpire(msgs, err)
		}
	}
}

func realTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
