package vault

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ephemera-im/ephemera/storage/stream"
)

// BlobDir is the folder, inside a vault directory, of encrypted
// attachments, one file per attachment named by its random id.
const BlobDir = "blobs"

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

// PutAttachment encrypts what r yields into a new blob (storage/stream:
// 64 KiB chunks under a fresh random key) and returns its id. The key is
// kept in a sealed record. The blob is written to a temporary file,
// fsynced and renamed into place before the record is committed, so a
// crash leaves either a complete attachment or a blob whose key was never
// stored (unreadable; not yet collected).
func (v *Vault) PutAttachment(r io.Reader) (AttachmentID, error) {
	if v.locked() {
		return "", ErrLocked
	}
	var raw [16]byte
	rand.Read(raw[:])
	id := AttachmentID(hex.EncodeToString(raw[:]))
	key := make([]byte, stream.KeySize)
	rand.Read(key)
	defer clear(key)
	dir := filepath.Join(v.dir, BlobDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("vault: put attachment: %w", err)
	}
	path := filepath.Join(dir, string(id))
	if err := writeBlob(dir, path, r, key); err != nil {
		return "", fmt.Errorf("vault: put attachment: %w", err)
	}
	err := v.Update(func(t *Tx) error { return t.put(bucketRecords, tAttachment, string(id), 0, key) })
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("vault: put attachment: %w", err)
	}
	return id, nil
}

func writeBlob(dir, path string, r io.Reader, key []byte) error {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
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
// id is ErrNotFound; a damaged blob fails with stream's errors.
func (v *Vault) OpenAttachment(id AttachmentID) (*Attachment, error) {
	if !id.valid() {
		return nil, fmt.Errorf("vault: open attachment %q: %w", id, ErrNotFound)
	}
	var key []byte
	err := v.View(func(t *Tx) (err error) {
		key, err = t.getBytes(tAttachment, string(id), "attachment")
		return err
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

// DeleteAttachment deletes an attachment's key record, then its blob.
// Deleting a missing one is no error. The key stays in bbolt's freed
// pages until Compact.
func (v *Vault) DeleteAttachment(id AttachmentID) error {
	if !id.valid() {
		return nil
	}
	if err := v.Update(func(t *Tx) error { return t.del(bucketRecords, tAttachment, string(id), 0) }); err != nil {
		return fmt.Errorf("vault: delete attachment: %w", err)
	}
	if err := os.Remove(filepath.Join(v.dir, BlobDir, string(id))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("vault: delete attachment: %w", err)
	}
	return nil
}
