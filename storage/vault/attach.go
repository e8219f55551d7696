package vault

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ephemera-im/ephemera/storage/keyslots"
	"github.com/ephemera-im/ephemera/storage/stream"
)

// BlobDir is the folder, inside a vault directory, of encrypted
// attachments, one file per attachment named by its random id.
const BlobDir = "blobs"

// blobTempPrefix starts the names of blobs being written; Open removes
// what an interrupted write left.
const blobTempPrefix = ".tmp-"

// AttachmentID names an attachment: 32 lowercase hex digits, random, so
// the blob's file name says nothing about its content or owner.
type AttachmentID string

// valid rejects anything but the ids PutAttachment makes, so an id from
// elsewhere cannot name a path outside the blob folder.
func (id AttachmentID) valid() bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ErrAttachmentOwned: AddMessage named an attachment that already
// belongs to another message.
var ErrAttachmentOwned = errors.New("vault: attachment belongs to another message")

// PutAttachment encrypts what r yields into a new blob (storage/stream:
// 64 KiB chunks under a fresh random key) and returns its id. The key is
// kept in a slot of vault.keys, like the key of an expiring message, and
// the attachment's sealed record names that slot; DeleteAttachment, and
// the deletion or expiry of the message that owns the attachment (see
// Message.Attachments), overwrite the slot. The blob is written to a
// temporary file, fsynced and renamed into place before the record is
// committed; a crash before the commit leaves a blob without a record
// and a slot no record names, both removed by the next Open.
func (v *Vault) PutAttachment(r io.Reader) (AttachmentID, error) {
	if v.locked() {
		return "", ErrLocked
	}
	if v.shredPending.Load() {
		return "", fmt.Errorf("vault: put attachment: %w", errShredPending)
	}
	var raw [16]byte
	rand.Read(raw[:])
	id := AttachmentID(hex.EncodeToString(raw[:]))
	dir := filepath.Join(v.dir, BlobDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("vault: put attachment: %w", err)
	}
	slot, key, err := v.allocSlot()
	if err != nil {
		if errors.Is(err, keyslots.ErrClosed) {
			err = ErrLocked
		}
		return "", fmt.Errorf("vault: put attachment: %w", err)
	}
	defer clear(key)
	path := filepath.Join(dir, string(id))
	if err := writeBlob(dir, path, r, key); err != nil {
		v.destroySlot(slot) // best effort: else an orphan the next Open destroys
		return "", fmt.Errorf("vault: put attachment: %w", err)
	}
	rec := attRecord{Slot: uint64(slot) + 1}
	err = v.Update(func(t *Tx) error {
		if err := t.put(bucketRecords, tAttachment, string(id), 0, rec.encode()); err != nil {
			return err
		}
		if err := t.addAttachCount(1); err != nil {
			return err
		}
		return t.noteKeySlots()
	})
	if err != nil {
		os.Remove(path)
		v.destroySlot(slot)
		return "", fmt.Errorf("vault: put attachment: %w", err)
	}
	return id, nil
}

// allocSlot allocates a key slot outside a transaction, holding v.mu
// shared so that Rekey (which copies vault.keys holding it exclusively)
// sees the slot or comes after it.
func (v *Vault) allocSlot() (uint32, []byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.keys == nil {
		return 0, nil, keyslots.ErrClosed
	}
	return v.ks.Alloc()
}

// destroySlot is Destroy of a slot allocSlot gave, on the current key
// file (a Rekey in between copied it there).
func (v *Vault) destroySlot(slot uint32) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.keys != nil {
		v.ks.Destroy(slot)
	}
}

// attachment reads an attachment's record; ok is false if there is none.
func (t *Tx) attachment(id AttachmentID) (r attRecord, ok bool, err error) {
	if !id.valid() {
		return r, false, nil
	}
	_, pt, err := t.get(bucketRecords, tAttachment, string(id), 0)
	if err != nil || pt == nil {
		return r, false, err
	}
	r, err = decodeAttRecord(pt)
	if err != nil {
		return r, false, fmt.Errorf("attachment %s: %w", id, err)
	}
	return r, true, nil
}

// own makes message (conversation, seq) the owner of atts.
func (t *Tx) own(conversation string, seq uint64, atts []AttachmentID) error {
	for _, id := range atts {
		r, ok, err := t.attachment(id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("attachment %q: %w", id, ErrNotFound)
		}
		if r.Seq != 0 && (r.Conversation != conversation || r.Seq != seq) {
			return fmt.Errorf("attachment %s: %w", id, ErrAttachmentOwned)
		}
		r.Conversation, r.Seq = conversation, seq
		if err := t.put(bucketRecords, tAttachment, string(id), 0, r.encode()); err != nil {
			return err
		}
	}
	return nil
}

// disown deletes those of atts that message (conversation, seq) owns.
func (t *Tx) disown(conversation string, seq uint64, atts []AttachmentID) error {
	for _, id := range atts {
		r, ok, err := t.attachment(id)
		if err != nil {
			return err
		}
		if ok && r.Seq == seq && r.Conversation == conversation {
			if err := t.dropAttachment(id, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropAttachment deletes an attachment's record; its slot is destroyed
// and its blob removed once the transaction commits.
func (t *Tx) dropAttachment(id AttachmentID, r attRecord) error {
	if err := t.del(bucketRecords, tAttachment, string(id), 0); err != nil {
		return err
	}
	if err := t.addAttachCount(-1); err != nil {
		return err
	}
	t.dropSlots = append(t.dropSlots, uint32(r.Slot-1))
	t.dropBlobs = append(t.dropBlobs, id)
	return nil
}

// attachCount reads how many attachment records there are; ok is false
// in a vault written before the count was kept (reconcile then sets it).
// Attachment records are keyed by keyed hashes, so the count is how
// reconcile learns that a blob is missing: it finds attachments only
// through their blobs.
func (t *Tx) attachCount() (n uint64, ok bool, err error) {
	_, pt, err := t.get(bucketRecords, tAttachCount, "", 0)
	if err != nil || pt == nil {
		return 0, false, err
	}
	if len(pt) != 8 {
		return 0, false, fmt.Errorf("%w: attachment count of %d bytes", ErrCorrupt, len(pt))
	}
	return binary.BigEndian.Uint64(pt), true, nil
}

func (t *Tx) setAttachCount(n uint64) error {
	return t.put(bucketRecords, tAttachCount, "", 0, binary.BigEndian.AppendUint64(nil, n))
}

// addAttachCount adds d to the attachment count.
func (t *Tx) addAttachCount(d int64) error {
	n, _, err := t.attachCount()
	if err != nil {
		return err
	}
	if d < 0 && n < uint64(-d) {
		return t.setAttachCount(0)
	}
	return t.setAttachCount(uint64(int64(n) + d))
}

// removeBlobs removes the blob files of deleted attachments; what is
// left (an error, a crash) has no record and goes at the next Open.
func (v *Vault) removeBlobs(ids []AttachmentID) {
	for _, id := range ids {
		os.Remove(filepath.Join(v.dir, BlobDir, string(id)))
	}
	if len(ids) > 0 {
		syncDir(filepath.Join(v.dir, BlobDir))
	}
}

func writeBlob(dir, path string, r io.Reader, key []byte) error {
	tmp, err := os.CreateTemp(dir, blobTempPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	w, err := stream.NewWriter(tmp, key)
	if err == nil {
		_, err = io.Copy(w, r)
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// Attachment is an open attachment: Read, Seek and ReadAt return
// authenticated plaintext (see storage/stream), Size its length. Close
// it when done. Safe for concurrent ReadAt; Read and Seek share one
// offset.
type Attachment struct {
	*io.SectionReader
	f *os.File
}

// Close closes the blob file.
func (a *Attachment) Close() error { return a.f.Close() }

// OpenAttachment opens an attachment for reading. A deleted or unknown
// id, or one whose key was destroyed, is ErrNotFound; a damaged blob
// fails with stream's errors.
func (v *Vault) OpenAttachment(id AttachmentID) (*Attachment, error) {
	if !id.valid() {
		return nil, fmt.Errorf("vault: open attachment %q: %w", id, ErrNotFound)
	}
	var key []byte
	err := v.View(func(t *Tx) error {
		r, ok, err := t.attachment(id)
		if err != nil {
			return fmt.Errorf("vault: open attachment: %w", err)
		}
		if !ok {
			return fmt.Errorf("vault: open attachment %s: %w", id, ErrNotFound)
		}
		key, err = v.ks.Get(uint32(r.Slot - 1))
		if errors.Is(err, keyslots.ErrNoKey) || errors.Is(err, keyslots.ErrRange) {
			return fmt.Errorf("vault: open attachment %s: %w (key destroyed)", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("vault: open attachment: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	defer clear(key)
	f, err := os.Open(filepath.Join(v.dir, BlobDir, string(id)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("vault: open attachment %s: blob missing: %w", id, ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: open attachment: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vault: open attachment: %w", err)
	}
	ra, err := stream.NewReaderAt(f, fi.Size(), key)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vault: open attachment %s: %w", id, err)
	}
	return &Attachment{SectionReader: io.NewSectionReader(ra, 0, ra.Size()), f: f}, nil
}

// DeleteAttachment deletes an attachment: its record, then (once that
// committed) it overwrites the key's slot in vault.keys and removes the
// blob. After it returns the key is in no file of the profile. Deleting
// a missing one is no error. A message that listed the attachment keeps
// listing it; OpenAttachment then answers ErrNotFound.
func (v *Vault) DeleteAttachment(id AttachmentID) error {
	if !id.valid() {
		return nil
	}
	err := v.Update(func(t *Tx) error {
		r, ok, err := t.attachment(id)
		if err != nil || !ok {
			return err
		}
		return t.dropAttachment(id, r)
	})
	if err != nil {
		return fmt.Errorf("vault: delete attachment: %w", err)
	}
	return nil
}
