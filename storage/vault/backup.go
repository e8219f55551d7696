package vault

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ephemera-im/ephemera/storage/stream"

	bolt "go.etcd.io/bbolt"
)

// A backup file (Export, Import) is the whole profile under a passphrase
// of its own. It starts with a clear header (big-endian integers):
//
//	magic      8  "EPHBACKP"
//	version    2  backupVersion
//	kdf        1  1 = Argon2id
//	memory     4  Argon2id memory in KiB
//	passes     4  Argon2id passes
//	threads    1  Argon2id lanes
//	salt      16
//	check     32  HMAC-SHA-256(check key, every byte before it)
//	checksum  32  SHA-256 of every byte before it
//
// K = Argon2id(backup passphrase, salt, parameters); the check key and the
// body's key are HKDF-SHA-256(K) under labels of their own. The check
// tells a wrong passphrase (ErrWrongPassphrase) from a damaged body
// before anything is written; the checksum tells a damaged header
// (ErrCorrupt) from a wrong passphrase. The body is a storage/stream file
// under the body key, whose plaintext is a sequence of entries
//
//	name length 1  1..maxEntryName; 0 ends the archive
//	name           vault.hdr, vault.db, vault.keys or blobs/<attachment id>
//	size       8
//	data     size
//
// and nothing after the end entry. So the file reveals only its size,
// and STREAM's authentication catches any change, truncation or
// extension.
const (
	backupMagic      = "EPHBACKP"
	backupVersion    = 1
	backupFieldsSize = len(backupMagic) + 2 + 1 + 4 + 4 + 1 + saltSize
	backupHeaderSize = backupFieldsSize + sha256.Size + sha256.Size

	labelBackupCheck  = "ephemera backup v1 check"
	labelBackupStream = "ephemera backup v1 stream"

	maxEntryName   = 64
	maxEntrySize   = 1 << 40 // 1 TiB: a bound on what a hostile file makes Import write
	maxHeaderEntry = 4 << 10
	maxEntries     = 1 << 24
)

// ExportOptions configure Export. The zero value uses DefaultKDF.
type ExportOptions struct {
	// KDF, if not zero, are the Argon2id parameters of the backup.
	KDF KDFParams
	// InsecureTestKDF allows (and, without KDF, selects) cheap Argon2id
	// parameters. For tests only; Import refuses them unless its Options
	// have InsecureTestKDF too.
	InsecureTestKDF bool
}

// backupHeader is the decoded clear header of a backup file.
type backupHeader struct {
	KDF   KDFParams
	Salt  [saltSize]byte
	Check [sha256.Size]byte
}

func (h *backupHeader) fields() []byte {
	b := make([]byte, 0, backupHeaderSize)
	b = append(b, backupMagic...)
	b = binary.BigEndian.AppendUint16(b, backupVersion)
	b = append(b, kdfArgon2id)
	b = binary.BigEndian.AppendUint32(b, h.KDF.MemoryKiB)
	b = binary.BigEndian.AppendUint32(b, h.KDF.Passes)
	b = append(b, h.KDF.Threads)
	return append(b, h.Salt[:]...)
}

func (h *backupHeader) encode() []byte {
	b := append(h.fields(), h.Check[:]...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// decodeBackupHeader parses a backup's clear header. It checks the format
// only; the caller bounds the KDF parameters and verifies Check.
func decodeBackupHeader(b []byte) (*backupHeader, error) {
	if len(b) < len(backupMagic)+2 || string(b[:len(backupMagic)]) != backupMagic {
		return nil, fmt.Errorf("%w: not an Ephemera backup", ErrNotBackup)
	}
	if v := binary.BigEndian.Uint16(b[len(backupMagic):]); v != backupVersion {
		if v > backupVersion {
			return nil, fmt.Errorf("%w: backup version %d, this program reads %d", ErrNewerVersion, v, backupVersion)
		}
		return nil, fmt.Errorf("%w: backup version %d", ErrCorrupt, v)
	}
	if len(b) != backupHeaderSize {
		return nil, fmt.Errorf("%w: backup header is %d bytes, want %d", ErrCorrupt, len(b), backupHeaderSize)
	}
	sum := sha256.Sum256(b[:backupHeaderSize-sha256.Size])
	if subtle.ConstantTimeCompare(sum[:], b[backupHeaderSize-sha256.Size:]) != 1 {
		return nil, fmt.Errorf("%w: backup header checksum mismatch", ErrCorrupt)
	}
	p := b[len(backupMagic)+2:]
	if p[0] != kdfArgon2id {
		return nil, fmt.Errorf("%w: unknown KDF %d", ErrCorrupt, p[0])
	}
	h := new(backupHeader)
	h.KDF.MemoryKiB = binary.BigEndian.Uint32(p[1:])
	h.KDF.Passes = binary.BigEndian.Uint32(p[5:])
	h.KDF.Threads = p[9]
	p = p[10:]
	p = p[copy(h.Salt[:], p):]
	copy(h.Check[:], p)
	return h, nil
}

// backupKeys derives the check and body keys from the backup passphrase.
func backupKeys(pass []byte, h *backupHeader) (check, body []byte) {
	k := deriveKEK(pass, h.Salt[:], h.KDF)
	defer clear(k)
	check, _ = hkdf.Key(sha256.New, k, nil, labelBackupCheck, keySize)
	body, _ = hkdf.Key(sha256.New, k, nil, labelBackupStream, stream.KeySize)
	return check, body
}

func backupCheck(checkKey []byte, h *backupHeader) []byte {
	m := hmac.New(sha256.New, checkKey)
	m.Write(h.fields())
	return m.Sum(nil)
}

// Export writes the whole profile (vault.hdr, a consistent snapshot of
// vault.db, vault.keys and every attachment blob) to w as one backup file
// encrypted under backupPass (format above). The vault's own header is
// inside, so an imported vault opens with the vault's passphrase, not the
// backup's. Other calls wait while Export runs, so the snapshot is
// consistent across vault.db, vault.keys and blobs. Blobs without a key
// record (the leftovers of a crashed PutAttachment) are left out. On
// error, what was written to w is not a usable backup.
func (v *Vault) Export(w io.Writer, backupPass []byte, opts ExportOptions) error {
	h := &backupHeader{KDF: opts.KDF}
	if h.KDF == (KDFParams{}) {
		h.KDF = (&Options{InsecureTestKDF: opts.InsecureTestKDF}).kdf()
	}
	if err := h.KDF.check(opts.InsecureTestKDF); err != nil {
		return fmt.Errorf("vault: export: %w", err)
	}
	rand.Read(h.Salt[:])
	checkKey, bodyKey := backupKeys(backupPass, h)
	defer clear(bodyKey)
	copy(h.Check[:], backupCheck(checkKey, h))
	clear(checkKey)

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		return ErrLocked
	}
	if _, err := w.Write(h.encode()); err != nil {
		return fmt.Errorf("vault: export: %w", err)
	}
	sw, err := stream.NewWriter(w, bodyKey)
	if err != nil {
		return fmt.Errorf("vault: export: %w", err)
	}
	err = v.db.View(func(tx *bolt.Tx) error {
		hdr := v.hdr.encode()
		if err := writeEntry(sw, HeaderFile, int64(len(hdr)), func(w io.Writer) error {
			_, err := w.Write(hdr)
			return err
		}); err != nil {
			return err
		}
		if err := writeEntry(sw, DBFile, tx.Size(), func(w io.Writer) error {
			_, err := tx.WriteTo(w)
			return err
		}); err != nil {
			return err
		}
		if err := writeFileEntry(sw, KeysFile, filepath.Join(v.dir, KeysFile)); err != nil {
			return err
		}
		ents, err := os.ReadDir(filepath.Join(v.dir, BlobDir))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		recs := tx.Bucket(bucketRecords)
		for _, e := range ents {
			id := AttachmentID(e.Name())
			if !e.Type().IsRegular() || !id.valid() || recs.Get(v.keys.recordKey(tAttachment, string(id), 0)) == nil {
				continue
			}
			if err := writeFileEntry(sw, BlobDir+"/"+string(id), filepath.Join(v.dir, BlobDir, string(id))); err != nil {
				return err
			}
		}
		_, err = sw.Write([]byte{0}) // end of the archive
		return err
	})
	if err == nil {
		err = sw.Close()
	}
	if err != nil {
		return fmt.Errorf("vault: export: %w", err)
	}
	return nil
}

// countWriter counts what passes through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeEntry writes one archive entry whose data body writes, which must
// be exactly size bytes.
func writeEntry(w io.Writer, name string, size int64, body func(io.Writer) error) error {
	b := []byte{byte(len(name))}
	b = append(b, name...)
	b = binary.BigEndian.AppendUint64(b, uint64(size))
	if _, err := w.Write(b); err != nil {
		return err
	}
	cw := &countWriter{w: w}
	if err := body(cw); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if cw.n != size {
		return fmt.Errorf("%s: wrote %d bytes, announced %d", name, cw.n, size)
	}
	return nil
}

func writeFileEntry(w io.Writer, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return writeEntry(w, name, fi.Size(), func(w io.Writer) error {
		_, err := io.CopyN(w, f, fi.Size())
		return err
	})
}

// validEntry reports whether name may appear in a backup, so that no
// name can reach outside the target folder.
func validEntry(name string) bool {
	switch name {
	case HeaderFile, DBFile, KeysFile:
		return true
	}
	id, ok := strings.CutPrefix(name, BlobDir+"/")
	return ok && AttachmentID(id).valid()
}

// Import restores a backup written by Export into dir, which must be
// empty or absent (else ErrNotEmpty). Afterwards Open(dir, the vault's
// passphrase, ...) opens it; that Open expires what fell due since the
// export. A wrong backupPass is ErrWrongPassphrase, a file that is not a
// backup ErrNotBackup, and a damaged, truncated or extended one ErrCorrupt
// (wrapping stream's error); in every error case nothing is left in dir.
// opts.InsecureTestKDF lets a backup with test KDF parameters in.
//
// Entries are written to a temporary folder inside dir and fsynced; only
// after the whole archive authenticated are they renamed into place,
// vault.hdr last (as Create does), and dir fsynced.
func Import(r io.Reader, backupPass []byte, dir string, opts Options) (err error) {
	created := false
	switch ents, err := os.ReadDir(dir); {
	case errors.Is(err, fs.ErrNotExist):
		created = true
	case err != nil:
		return fmt.Errorf("vault: import: %w", err)
	case len(ents) > 0:
		return fmt.Errorf("vault: import into %s: %w", dir, ErrNotEmpty)
	}
	hb := make([]byte, backupHeaderSize)
	if n, err := io.ReadFull(r, hb); err != nil {
		if n >= len(backupMagic) && string(hb[:len(backupMagic)]) == backupMagic {
			return fmt.Errorf("vault: import: %w: backup header truncated", ErrCorrupt)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("vault: import: %w", ErrNotBackup)
		}
		return fmt.Errorf("vault: import: %w", err)
	}
	h, err := decodeBackupHeader(hb)
	if err != nil {
		return fmt.Errorf("vault: import: %w", err)
	}
	if err := h.KDF.check(opts.InsecureTestKDF); err != nil {
		return fmt.Errorf("vault: import: %w", err)
	}
	checkKey, bodyKey := backupKeys(backupPass, h)
	defer clear(bodyKey)
	ok := hmac.Equal(backupCheck(checkKey, h), h.Check[:])
	clear(checkKey)
	if !ok {
		return fmt.Errorf("vault: import: %w", ErrWrongPassphrase)
	}
	sr, err := stream.NewReader(r, bodyKey)
	if err != nil {
		return fmt.Errorf("vault: import: %w: %w", ErrCorrupt, err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("vault: import: %w", err)
	}
	staging, err := os.MkdirTemp(dir, ".import-*")
	if err != nil {
		return fmt.Errorf("vault: import: %w", err)
	}
	var placed []string
	defer func() {
		if err == nil {
			return
		}
		for _, p := range placed {
			os.RemoveAll(p)
		}
		os.RemoveAll(staging)
		if created {
			os.Remove(dir)
		}
	}()
	if err := readArchive(sr, staging); err != nil {
		var nf *archiveError
		if errors.As(err, &nf) || errors.Is(err, stream.ErrAuth) || errors.Is(err, stream.ErrTruncated) || errors.Is(err, stream.ErrFormat) {
			return fmt.Errorf("vault: import: %w: %w", ErrCorrupt, err)
		}
		return fmt.Errorf("vault: import: %w", err)
	}
	// Blobs, key file and vault.db first, the header last: the header's
	// appearance is what makes a vault.
	for _, name := range []string{BlobDir, KeysFile, DBFile, HeaderFile} {
		src := filepath.Join(staging, name)
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		dst := filepath.Join(dir, name)
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("vault: import: %w", err)
		}
		placed = append(placed, dst)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("vault: import: %w", err)
	}
	if err := os.Remove(staging); err != nil {
		return fmt.Errorf("vault: import: %w", err)
	}
	return syncDir(dir)
}

// archiveError is a malformed archive inside an authentic stream (which
// only a bug or a backup made with the backup passphrase can produce).
type archiveError struct{ msg string }

func (e *archiveError) Error() string { return "backup archive: " + e.msg }

func badArchive(format string, a ...any) error {
	return &archiveError{fmt.Sprintf(format, a...)}
}

// readArchive writes the entries of the archive r into staging, each
// file fsynced, and checks that the archive ends where the stream does.
func readArchive(r io.Reader, staging string) error {
	seen := map[string]bool{}
	var b [8]byte
	for n := 0; ; n++ {
		if n > maxEntries {
			return badArchive("more than %d entries", maxEntries)
		}
		if _, err := io.ReadFull(r, b[:1]); err != nil {
			return eofIsTruncation(err)
		}
		if b[0] == 0 {
			break
		}
		if int(b[0]) > maxEntryName {
			return badArchive("entry name of %d bytes", b[0])
		}
		nb := make([]byte, b[0])
		if _, err := io.ReadFull(r, nb); err != nil {
			return eofIsTruncation(err)
		}
		name := string(nb)
		if !validEntry(name) {
			return badArchive("entry name %q", name)
		}
		if seen[name] {
			return badArchive("entry %q twice", name)
		}
		seen[name] = true
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return eofIsTruncation(err)
		}
		size := binary.BigEndian.Uint64(b[:])
		if size > maxEntrySize || (name == HeaderFile && size > maxHeaderEntry) {
			return badArchive("entry %q of %d bytes", name, size)
		}
		if err := writeStaged(r, staging, name, int64(size)); err != nil {
			return err
		}
	}
	for _, name := range []string{HeaderFile, DBFile, KeysFile} {
		if !seen[name] {
			return badArchive("no %s", name)
		}
	}
	// Nothing may follow the end entry; reading on also makes the stream
	// authenticate its last chunk.
	switch n, err := io.ReadFull(r, b[:1]); {
	case n > 0:
		return badArchive("data after the end")
	case !errors.Is(err, io.EOF):
		return err
	}
	if err := syncDir(staging); err != nil {
		return err
	}
	if seenBlob(seen) {
		return syncDir(filepath.Join(staging, BlobDir))
	}
	return nil
}

func seenBlob(seen map[string]bool) bool {
	for name := range seen {
		if strings.HasPrefix(name, BlobDir+"/") {
			return true
		}
	}
	return false
}

func eofIsTruncation(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badArchive("ends inside an entry")
	}
	return err
}

// writeStaged copies size bytes of r into staging/name and fsyncs it.
func writeStaged(r io.Reader, staging, name string, size int64) error {
	path := filepath.Join(staging, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, r, size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return eofIsTruncation(err)
}
