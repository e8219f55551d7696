package vault

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
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

// openKeySlots opens vault.keys, or makes a new one when creating the
// vault (or repairing it, see DiscardLostKeys). Anything else that keeps
// it from opening (missing, too short, not a key file, another vault's)
// is ErrDamaged naming the file: making a new empty one would stand for
// every key the lost one held, and reconcile would then delete every
// message and attachment they open.
func openKeySlots(dir string, master []byte, create bool) (*keyslots.File, error) {
	km, err := keySlotsMaster(master)
	if err != nil {
		return nil, err
	}
	defer clear(km)
	path := filepath.Join(dir, KeysFile)
	if create {
		return keyslots.Create(path, km)
	}
	kf, err := keyslots.Open(path, km)
	switch {
	case err == nil:
		return kf, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w (missing)", path, ErrDamaged)
	case errors.Is(err, keyslots.ErrWrongMaster):
		return nil, fmt.Errorf("%s: %w (it belongs to another vault)", path, ErrDamaged)
	case errors.Is(err, keyslots.ErrFormat):
		return nil, fmt.Errorf("%s: %w (%v)", path, ErrDamaged, err)
	case errors.Is(err, keyslots.ErrVersion):
		return nil, fmt.Errorf("%s: %w (%v)", path, ErrNewerVersion, err)
	}
	return nil, err
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
// records of due messages whose key slot is gone (a crash or failed
// commit after ExpireDue destroyed the slots); goes through the blob
// folder (cleanBlobs); then destroys the slots that hold a key no record
// names (a crash between Alloc and the commit of a message or
// attachment, or between an attachment's deletion and its slot's
// overwriting).
//
// No crash leaves a message that is not yet due, or an attachment,
// naming a slot that holds no key, nor any record naming a slot beyond
// the end of vault.keys (the file never shrinks): those mean vault.keys
// is not the file vault.db was written with (truncated, or an older or
// damaged copy). Then reconcile fails with ErrDamaged and writes
// nothing, so restoring the right file restores every message; only
// DiscardLostKeys (discard set) deletes them instead.
func (v *Vault) reconcile(discard bool) (lost int, err error) {
	allocated := v.ks.Allocated()
	slots := uint32(v.ks.Slots())
	now := v.now()
	var used []uint32
	var stray []string
	var beyond, missing int
	var keepSlots bool
	err = v.Update(func(t *Tx) error {
		if want, ok, err := t.keySlots(); err != nil {
			return err
		} else if ok && slots < want && !discard {
			return fmt.Errorf("%s: %w (truncated: %d slots, %d when last written)",
				filepath.Join(v.dir, KeysFile), ErrDamaged, slots, want)
		}
		refs, _, err := t.expiryIndex(func(*expiryEntry) bool { return true })
		if err != nil {
			return err
		}
		for _, x := range refs {
			if _, ok := slices.BinarySearch(allocated, x.Slot); ok {
				used = append(used, x.Slot)
				continue
			}
			switch e := timeToNanos(x.Expires); {
			case x.Slot >= slots:
				beyond++
			case e == 0 || e > timeToNanos(now):
				missing++
			}
			if err := t.deleteMessage(x.Conversation, x.Seq, nil); err != nil {
				return err
			}
		}
		count, counted, err := t.attachCount()
		if err != nil {
			return err
		}
		att, s, lostAtt, err := t.cleanBlobs(allocated, slots)
		if err != nil {
			return err
		}
		// Fewer blobs with records than records: some blob is missing,
		// so its attachment's slot is not in used. Destroying "orphans"
		// would then destroy its key, and restoring the blob would bring
		// back nothing: keep every slot until the blobs are whole again.
		switch found := uint64(lostAtt.found); {
		case !counted:
			if err := t.setAttachCount(found - uint64(lostAtt.missing+lostAtt.beyond)); err != nil {
				return err
			}
		case found < count:
			keepSlots = true
		}
		used = append(used, att...)
		stray = s
		missing += lostAtt.missing
		beyond += lostAtt.beyond
		if (beyond > 0 || missing > 0) && !discard {
			// Roll back: nothing is deleted.
			return v.keysMismatch(beyond, missing, slots)
		}
		if discard { // the file as it is now is the vault's
			return t.put(bucketRecords, tKeySlots, "", 0, binary.BigEndian.AppendUint32(nil, slots))
		}
		return t.noteKeySlots()
	})
	if err != nil {
		return 0, err
	}
	for _, p := range stray {
		os.Remove(p)
	}
	if keepSlots {
		return beyond + missing, nil
	}
	slices.Sort(used)
	var orphans []uint32
	for _, s := range allocated {
		if _, ok := slices.BinarySearch(used, s); !ok {
			orphans = append(orphans, s)
		}
	}
	if len(orphans) == 0 {
		return beyond + missing, nil
	}
	return beyond + missing, v.ks.DestroyMany(orphans)
}

// DiscardLostKeys is the destructive repair of a vault whose vault.keys
// is missing or lacks keys that vault.db's records name (truncated, or an
// older copy), for when no backup of the right file exists. Open refuses
// such a vault with ErrDamaged and changes nothing; this, only when the
// user asks for it, opens the vault under passphrase anyway, making a
// new empty vault.keys if there is none, deletes every message and
// attachment whose key is lost (their content is unreadable without it),
// and returns how many it deleted with the vault open. A vault.keys of
// another vault, or one that is not a key file, is still refused: move
// it away first. Keep a copy of the whole folder before calling it.
func DiscardLostKeys(dir string, passphrase []byte, opts Options) (v *Vault, deleted int, err error) {
	if err := finishRekey(dir); err != nil {
		return nil, 0, fmt.Errorf("vault: open %s: finishing a re-key: %w", dir, err)
	}
	h, err := readHeader(dir)
	if err != nil {
		return nil, 0, err
	}
	if err := h.KDF.check(opts.InsecureTestKDF); err != nil {
		return nil, 0, fmt.Errorf("vault: open %s: %w", dir, err)
	}
	kek := deriveKEK(passphrase, h.Salt[:], h.KDF)
	defer clear(kek)
	master, err := unwrapWith(h, kek)
	if err != nil {
		return nil, 0, fmt.Errorf("vault: open %s: %w", dir, err)
	}
	if err := checkDB(filepath.Join(dir, DBFile)); err != nil {
		clear(master)
		return nil, 0, err
	}
	v, err = open(dir, h, master, kek, opts, openDiscard)
	if err != nil {
		return nil, 0, err
	}
	deleted, v.lost = v.lost, 0
	return v, deleted, nil
}

// keySlots reads how many slots vault.keys had when a transaction that
// allocated one committed; ok is false in a vault written before it was
// kept. vault.keys never shrinks, so a file with fewer slots was
// truncated, even where only free slots were cut off.
func (t *Tx) keySlots() (n uint32, ok bool, err error) {
	_, pt, err := t.get(bucketRecords, tKeySlots, "", 0)
	if err != nil || pt == nil {
		return 0, false, err
	}
	if len(pt) != 4 {
		return 0, false, fmt.Errorf("%w: key slot count of %d bytes", ErrCorrupt, len(pt))
	}
	return binary.BigEndian.Uint32(pt), true, nil
}

// noteKeySlots records vault.keys' size in slots, if it grew, in a
// transaction that allocated slots (or reconcile): the slots are
// allocated before the commit, so the record never exceeds the file.
func (t *Tx) noteKeySlots() error {
	n := uint32(t.v.ks.Slots())
	have, ok, err := t.keySlots()
	if err != nil || (ok && have >= n) {
		return err
	}
	return t.put(bucketRecords, tKeySlots, "", 0, binary.BigEndian.AppendUint32(nil, n))
}

// keysMismatch is the error of a vault.keys that lacks keys vault.db's
// records name.
func (v *Vault) keysMismatch(beyond, missing int, slots uint32) error {
	path := filepath.Join(v.dir, KeysFile)
	if beyond > 0 {
		return fmt.Errorf("%s: %w (truncated: %d records name keys beyond its %d slots, %d more name keys it lacks)",
			path, ErrDamaged, beyond, slots, missing)
	}
	return fmt.Errorf("%s: %w (it lacks the keys of %d messages or attachments that have not expired; an older or damaged copy?)",
		path, ErrDamaged, missing)
}

// lostKeys counts the attachments cleanBlobs found (blobs with a
// record), and those of them whose key slot is gone.
type lostKeys struct{ found, beyond, missing int }

// cleanBlobs goes through the blob folder at Open and returns the key
// slots of the attachments that stay, and the paths of stray files to
// remove: temporary files of interrupted writes, and blobs without a
// record (a crash before PutAttachment's commit, or after a deletion's
// commit but before the blob's removal). It deletes (dropAttachment)
// the attachments whose key slot is gone and those whose owning message
// is gone or unreadable (it expired, with a crash before its
// attachments were deleted). allocated is sorted.
func (t *Tx) cleanBlobs(allocated []uint32, slots uint32) (used []uint32, stray []string, lost lostKeys, err error) {
	dir := filepath.Join(t.v.dir, BlobDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, lost, nil
	}
	if err != nil {
		return nil, nil, lost, err
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
			return nil, nil, lost, err
		}
		if !ok {
			stray = append(stray, filepath.Join(dir, name))
			continue
		}
		lost.found++
		slot := uint32(r.Slot - 1)
		gone := false
		if _, live := slices.BinarySearch(allocated, slot); !live {
			// No crash destroys an attachment's slot while its record
			// stays: the slot goes after the record's deletion commits.
			if slot >= slots {
				lost.beyond++
			} else {
				lost.missing++
			}
			gone = true
		} else if r.Seq != 0 {
			// Only a message known to be gone frees its attachments; a
			// damaged record keeps them (and does not stop Open).
			_, _, err := t.message(r.Conversation, r.Seq)
			gone = errors.Is(err, ErrNotFound)
		}
		if gone {
			if err := t.dropAttachment(id, r); err != nil {
				return nil, nil, lost, err
			}
			if slot >= slots { // nothing there to overwrite
				t.dropSlots = t.dropSlots[:len(t.dropSlots)-1]
			}
			continue
		}
		used = append(used, slot)
	}
	return used, stray, lost, nil
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
