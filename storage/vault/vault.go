package vault

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ephemera-im/ephemera/storage/keyslots"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/crypto/chacha20poly1305"
)

// File names inside a vault directory.
const (
	HeaderFile = "vault.hdr"
	DBFile     = "vault.db"
	// CreatingFile marks a vault being created: Create writes it first
	// and removes it once vault.hdr is in place, so a later Create knows
	// files without a header are its own leftovers, not a vault whose
	// header was lost.
	CreatingFile = "vault.creating"
)

// Options configure Create and Open. The zero value is ready to use.
type Options struct {
	// KDF, if not zero, are the Argon2id parameters Create (and
	// ChangePassphrase) use instead of DefaultKDF. They must be within
	// the accepted bounds.
	KDF KDFParams
	// InsecureTestKDF makes Create use cheap Argon2id parameters and lets
	// Open accept them. For tests only: a vault made with it falls to a
	// passphrase guesser quickly, and a production Open refuses it.
	InsecureTestKDF bool
	// NoSync skips fsync of vault.db. For tests and benchmarks only.
	NoSync bool
	// Now is the clock for expiry; nil means time.Now.
	Now func() time.Time
	// ExpiryInterval, if positive, runs ExpireDue(Now()) on a timer while
	// the vault is unlocked, in a goroutine that Lock (or Close) stops.
	// ExpireDue also runs in Open, before Open returns, whatever this is.
	ExpiryInterval time.Duration
	// Ticker makes the timer for ExpiryInterval; nil means a time.Ticker.
	// Tests pass one they drive. stop is called when the goroutine ends.
	Ticker func(d time.Duration) (c <-chan time.Time, stop func())
	// OnExpire, if set, is called from the timer goroutine with what each
	// timed ExpireDue expired (when it expired anything or failed), so
	// the GUI can remove the messages.
	OnExpire func(expired []Message, err error)
	// CompactEvery, if positive, makes ExpireDue call Compact once that
	// many messages have expired since the last compaction.
	CompactEvery int
	// Keychain, if set, gets a copy of the master key at every Create
	// and passphrase Open, so OpenWithKeychain can unlock without the
	// passphrase. Off (nil) by default; see Keychain.
	Keychain Keychain
}

func (o *Options) kdf() KDFParams {
	switch {
	case o.KDF != (KDFParams{}):
		return o.KDF
	case o.InsecureTestKDF:
		return testKDF
	}
	return DefaultKDF
}

// Vault is an unlocked vault. Make one with Create or Open. It is safe
// for concurrent use; Lock (or Close) wipes its keys, after which every
// method returns ErrLocked.
type Vault struct {
	dir  string
	opts Options
	now  func() time.Time

	// mu is held shared by every call and exclusively by Lock and
	// ChangePassphrase, so Lock waits for calls in flight.
	mu   sync.RWMutex
	db   *bolt.DB
	keys *keys // nil once locked
	hdr  *header

	// nextDue caches the earliest expiry in the index so ExpireDue
	// returns at once when nothing is due; zero means unknown.
	dueMu   sync.Mutex
	nextDue int64
	expired atomic.Int64 // messages expired since the last compaction

	ks           *keyslots.File // per-message keys; closed once locked
	shredPending atomic.Bool    // see errShredPending
	migrated     []uint32       // key slots a migration allocated in Open
	lost         int            // records DiscardLostKeys deleted
	// compactAfterMigration: a migration rewrote records, whose old
	// versions stay in freed pages until Open compacts vault.db.
	compactAfterMigration bool
	stop                  chan struct{} // closed by Lock to end the expiry timer
	stopOnce              sync.Once
}

// Bucket names are generic: all records but the expiry index share one
// bucket, so the file shows neither how many contacts nor how many
// conversations there are.
var (
	bucketMeta    = []byte("m")
	bucketRecords = []byte("r")
	bucketExpiry  = []byte("x")
)

// openTimeout bounds the wait for vault.db's file lock held by another
// process using the same vault.
const openTimeout = 2 * time.Second

// Create makes a new vault in dir (created if needed) under passphrase:
// a random master key wrapped in vault.hdr, and an empty vault.db. It
// fails with ErrExists if dir already holds a vault header.
func Create(dir string, passphrase []byte, opts Options) (*Vault, error) {
	p := opts.kdf()
	if err := p.check(opts.InsecureTestKDF); err != nil {
		return nil, fmt.Errorf("vault: create: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: create: %w", err)
	}
	hpath := filepath.Join(dir, HeaderFile)
	if _, err := os.Lstat(hpath); err == nil {
		return nil, fmt.Errorf("vault: create %s: %w", dir, ErrExists)
	}
	// A vault.db or vault.keys without a header is what a crash inside
	// Create leaves, marked by CreatingFile: without the header its
	// master key is gone, so no one can read them, and they are removed.
	// Without the mark they are a vault whose header was lost (restore
	// it from a backup): never deleted here.
	marker := filepath.Join(dir, CreatingFile)
	_, merr := os.Lstat(marker)
	for _, name := range []string{DBFile, KeysFile, DBFile + compactSuffix} {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil && merr != nil {
			return nil, fmt.Errorf("vault: create %s: %w (%s is there without %s: restore %s from a backup, or move the folder away)",
				dir, ErrExists, name, HeaderFile, HeaderFile)
		}
	}
	for _, name := range []string{DBFile, KeysFile, DBFile + compactSuffix} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("vault: create: %w", err)
		}
	}
	if err := writeSynced(dir, marker, nil); err != nil {
		return nil, fmt.Errorf("vault: create: %w", err)
	}
	master := make([]byte, keySize)
	rand.Read(master)
	h := &header{Version: currentVersion, KDF: p}
	rand.Read(h.Salt[:])
	rand.Read(h.VaultID[:])
	wrapKey(h, passphrase, master)
	// vault.db with its check record is made and synced first, the
	// header last: the header's appearance is what makes a vault.
	v, err := open(dir, h, master, nil, opts, openCreate)
	if err != nil {
		return nil, err
	}
	if err := writeHeader(dir, h); err != nil {
		v.Lock()
		return nil, fmt.Errorf("vault: create: %w", err)
	}
	// Best effort: a mark left under a header is removed by Open.
	os.Remove(marker)
	v.keychainStore()
	return v, nil
}

// Open unlocks the vault in dir. A wrong passphrase is ErrWrongPassphrase;
// a missing or foreign header ErrNotVault; a damaged one ErrCorrupt; a
// newer one ErrNewerVersion. Whatever the error, Open writes nothing:
// vault.db is not even opened until the passphrase is verified.
func Open(dir string, passphrase []byte, opts Options) (*Vault, error) {
	// A re-key that stopped after its new files were complete is
	// finished first, so the header read is the new one (rekey.go).
	if err := finishRekey(dir); err != nil {
		return nil, fmt.Errorf("vault: open %s: finishing a re-key: %w", dir, err)
	}
	h, err := readHeader(dir)
	if err != nil {
		return nil, err
	}
	if err := h.KDF.check(opts.InsecureTestKDF); err != nil {
		return nil, fmt.Errorf("vault: open %s: %w", dir, err)
	}
	kek := deriveKEK(passphrase, h.Salt[:], h.KDF)
	defer clear(kek)
	master, err := unwrapWith(h, kek)
	if err != nil {
		return nil, fmt.Errorf("vault: open %s: %w", dir, err)
	}
	if err := checkDB(filepath.Join(dir, DBFile)); err != nil {
		clear(master)
		return nil, err
	}
	v, err := open(dir, h, master, kek, opts, openExisting)
	if err != nil {
		return nil, err
	}
	v.keychainStore()
	return v, nil
}

func readHeader(dir string) (*header, error) {
	path := filepath.Join(dir, HeaderFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("vault: open %s: no %s: %w", dir, HeaderFile, ErrNotVault)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: open: %w", err)
	}
	defer f.Close()
	// Read at most one byte past a header, so a huge foreign file costs
	// nothing.
	buf := make([]byte, headerSize+1)
	n, err := readFull(f, buf)
	if err != nil {
		return nil, fmt.Errorf("vault: open %s: %w", path, err)
	}
	h, err := decodeHeader(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("vault: open %s: %w", path, err)
	}
	return h, nil
}

func readFull(f *os.File, buf []byte) (int, error) {
	n, err := io.ReadFull(f, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return n, err
}

// wrapKey seals master into h under the passphrase, with a fresh nonce.
func wrapKey(h *header, passphrase, master []byte) {
	kek := deriveKEK(passphrase, h.Salt[:], h.KDF)
	defer clear(kek)
	aead, _ := chacha20poly1305.NewX(kek)
	rand.Read(h.Nonce[:])
	aead.Seal(h.Wrapped[:0], h.Nonce[:], master, h.aad())
}

func unwrapKey(h *header, passphrase []byte) ([]byte, error) {
	kek := deriveKEK(passphrase, h.Salt[:], h.KDF)
	defer clear(kek)
	return unwrapWith(h, kek)
}

// sealWith seals master into h under an already derived kek, with a
// fresh nonce.
func sealWith(h *header, kek, master []byte) {
	aead, _ := chacha20poly1305.NewX(kek)
	rand.Read(h.Nonce[:])
	aead.Seal(h.Wrapped[:0], h.Nonce[:], master, h.aad())
}

func unwrapWith(h *header, kek []byte) ([]byte, error) {
	aead, _ := chacha20poly1305.NewX(kek)
	master, err := aead.Open(nil, h.Nonce[:], h.Wrapped[:], h.aad())
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return master, nil
}

// writeSynced creates path with b and syncs it and its folder.
func writeSynced(dir, path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeHeader replaces dir's header atomically: a temporary file is
// written and fsynced, renamed over vault.hdr, and the directory fsynced,
// so a crash leaves the old header or the new one, never a mix.
func writeHeader(dir string, h *header) error {
	tmp, err := os.CreateTemp(dir, HeaderFile+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(h.encode()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, HeaderFile)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// openMode says what open may write besides what a normal Open does.
type openMode int

const (
	openExisting openMode = iota // every file must be there and match
	openCreate                   // a new vault: make vault.db and vault.keys
	openDiscard                  // DiscardLostKeys: see there
)

// open opens vault.db with an unwrapped master key; it owns master. kek
// is the key that unwrapped it, used to rewrite the header after a
// migration; nil when creating or unlocking from the keychain.
func open(dir string, h *header, master, kek []byte, opts Options, mode openMode) (*Vault, error) {
	create := mode == openCreate
	k, err := newKeys(master)
	if err != nil {
		clear(master)
		return nil, err
	}
	path := filepath.Join(dir, DBFile)
	db, err := openDB(path, opts)
	if err != nil {
		k.wipe()
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("vault: open %s: locked by another process", path)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
			errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
			return nil, fmt.Errorf("vault: open %s: %w (%v)", path, ErrDamaged, err)
		}
		return nil, fmt.Errorf("vault: open %s: %w", path, err)
	}
	v := &Vault{dir: dir, opts: opts, now: opts.Now, db: db, keys: k, hdr: h, stop: make(chan struct{})}
	if v.now == nil {
		v.now = time.Now
	}
	if err := v.init(create); err != nil {
		db.Close()
		k.wipe()
		return nil, fmt.Errorf("vault: open %s: %w", path, err)
	}
	// vault.db is ours (the check record matched): the key file may be
	// touched now (a migration may move keys into it).
	keysCreate := create
	if mode == openDiscard {
		if _, err := os.Lstat(filepath.Join(dir, KeysFile)); errors.Is(err, fs.ErrNotExist) {
			keysCreate = true
		}
	}
	if v.ks, err = openKeySlots(dir, master, keysCreate); err != nil {
		db.Close()
		k.wipe()
		return nil, fmt.Errorf("vault: open %w", err)
	}
	// Bring vault.db and the header up to this program's schema before
	// anything reads records.
	if !create {
		if err := v.migrate(kek); err != nil {
			db.Close()
			v.ks.Close()
			k.wipe()
			return nil, openFailed(dir, err)
		}
	}
	os.Remove(path + compactSuffix)
	// Expire what fell due while the vault was closed before anything is
	// readable.
	if v.lost, err = v.reconcile(mode == openDiscard); err != nil {
		v.Lock()
		if errors.Is(err, ErrDamaged) { // names vault.keys
			return nil, fmt.Errorf("vault: open %w", err)
		}
		return nil, openFailed(dir, err)
	}
	if _, err := v.ExpireDue(v.now()); err != nil {
		v.Lock()
		return nil, openFailed(dir, err)
	}
	// A migration that moved keys out of records, or rewrote them, left
	// the old records in freed pages: compact them away now.
	if len(v.migrated) > 0 || v.compactAfterMigration {
		v.migrated, v.compactAfterMigration = nil, false
		if err := v.Compact(); err != nil {
			v.Lock()
			return nil, fmt.Errorf("vault: open %s: %w", dir, err)
		}
	}
	if !create {
		os.Remove(filepath.Join(dir, CreatingFile)) // Create crashed after its header
	}
	if opts.ExpiryInterval > 0 {
		ticker := opts.Ticker
		if ticker == nil {
			ticker = realTicker
		}
		c, stop := ticker(opts.ExpiryInterval)
		go v.expiryLoop(c, stop, v.stop)
	}
	return v, nil
}

// openFailed words an error of Open after vault.db opened: a record of
// vault.db that does not open (ErrCorrupt) is the file's damage, and
// says so as ErrDamaged naming it.
func openFailed(dir string, err error) error {
	if errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrDamaged) {
		return fmt.Errorf("vault: open %s: %w (%v)", filepath.Join(dir, DBFile), ErrDamaged, err)
	}
	return fmt.Errorf("vault: open %s: %w", dir, err)
}

func openDB(path string, opts Options) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        openTimeout,
		NoSync:         opts.NoSync,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err == nil {
		releaseResident(db, path)
	}
	return db, err
}

// init checks that vault.db belongs to the header (its check record
// holds the header's vault id, sealed under the master key), or, when
// creating, makes the buckets and the check record.
func (v *Vault) init(create bool) error {
	var ck []byte
	var have bool
	err := v.db.View(func(tx *bolt.Tx) error {
		if create {
			return nil
		}
		m := tx.Bucket(bucketMeta)
		if m == nil || tx.Bucket(bucketRecords) == nil || tx.Bucket(bucketExpiry) == nil {
			return fmt.Errorf("%w (it lacks its buckets)", ErrDamaged)
		}
		if err := v.loadRekeyed(m); err != nil {
			return err
		}
		ck = v.keys.recordKey(tCheck, "", 0)
		sealed := m.Get(ck)
		// The passphrase opened the header, so a check record that does
		// not match it means vault.db is another vault's (or damaged).
		if sealed == nil {
			return fmt.Errorf("%w (it does not belong to %s)", ErrDamaged, HeaderFile)
		}
		id, err := openRecord(v.keys.seal, bucketMeta, ck, sealed)
		if err != nil || subtle.ConstantTimeCompare(id, v.hdr.VaultID[:]) != 1 {
			return fmt.Errorf("%w (it does not belong to %s)", ErrDamaged, HeaderFile)
		}
		have = true
		return nil
	})
	if err != nil || have {
		return err
	}
	return v.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketRecords, bucketExpiry} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		if err := m.Put(metaVersion, encodeVersion(v.hdr.Version)); err != nil {
			return err
		}
		ck = v.keys.recordKey(tCheck, "", 0)
		return m.Put(ck, sealRecord(v.keys.seal, bucketMeta, ck, v.hdr.VaultID[:]))
	})
}

// ChangePassphrase rewraps the master key under newPass (with a fresh
// salt, and the KDF parameters of the Options the vault was opened with
// when they are set, else the header's). Only vault.hdr changes, and it
// is replaced atomically. A wrong old passphrase is ErrWrongPassphrase
// and changes nothing.
func (v *Vault) ChangePassphrase(oldPass, newPass []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		return ErrLocked
	}
	master, err := unwrapKey(v.hdr, oldPass)
	if err != nil {
		return fmt.Errorf("vault: change passphrase: %w", err)
	}
	defer clear(master)
	if subtle.ConstantTimeCompare(master, v.keys.master) != 1 {
		return fmt.Errorf("vault: change passphrase: %w: header changed under the open vault", ErrCorrupt)
	}
	h := *v.hdr
	if v.opts.KDF != (KDFParams{}) {
		h.KDF = v.opts.KDF
	}
	rand.Read(h.Salt[:])
	wrapKey(&h, newPass, master)
	if err := writeHeader(v.dir, &h); err != nil {
		return fmt.Errorf("vault: change passphrase: %w", err)
	}
	v.hdr = &h
	return nil
}

// Lock wipes the keys from memory, closes vault.db and the key file and
// stops the expiry timer, after waiting for calls in flight. Later calls
// return ErrLocked; Open unlocks again. Locking a locked vault does
// nothing.
func (v *Vault) Lock() error {
	v.stopOnce.Do(func() { close(v.stop) })
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		return nil
	}
	v.keys.wipe()
	v.keys = nil
	var err error
	if v.db != nil {
		err = v.db.Close()
		v.db = nil
	}
	if v.ks != nil {
		err = errors.Join(err, v.ks.Close())
	}
	return err
}

// Close is Lock.
func (v *Vault) Close() error { return v.Lock() }

// View runs fn in a read-only transaction.
func (v *Vault) View(fn func(*Tx) error) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.keys == nil {
		return ErrLocked
	}
	return v.db.View(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx, v: v}) })
}

// Update runs fn in a read-write transaction: everything fn writes is
// committed (and fsynced) together when it returns nil, or not at all.
// One logical change, such as a ratchet step and its outbox entry, is
// one Update.
func (v *Vault) Update(fn func(*Tx) error) error {
	minDue, err := v.update(fn)
	if minDue != 0 {
		// After releasing v.mu: ExpireDue holds dueMu while it waits for
		// v.mu, which a waiting Lock or Compact blocks.
		v.noteDue(minDue)
	}
	return err
}

func (v *Vault) update(fn func(*Tx) error) (int64, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.keys == nil {
		return 0, ErrLocked
	}
	t := &Tx{v: v, writable: true}
	err := v.db.Update(func(btx *bolt.Tx) error {
		t.tx = btx
		if err := fn(t); err != nil {
			return err
		}
		if len(t.allocs) > 0 {
			return t.noteKeySlots()
		}
		return nil
	})
	if err != nil {
		if len(t.allocs) > 0 {
			// Best effort: what is left is an orphan that the next Open
			// destroys.
			v.ks.DestroyMany(t.allocs)
		}
		if t.shredded {
			v.shredPending.Store(true)
		}
		return 0, err
	}
	if t.shredded {
		v.shredPending.Store(false)
	}
	// Deleted attachments: their keys go now that no record names them.
	if len(t.dropSlots) > 0 {
		if err := v.ks.DestroyMany(t.dropSlots); err != nil {
			// Committed; the next Open destroys the slots no record names.
			return t.minDue, fmt.Errorf("vault: destroying attachment keys: %w", err)
		}
	}
	v.removeBlobs(t.dropBlobs)
	return t.minDue, nil
}
