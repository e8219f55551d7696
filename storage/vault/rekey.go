package vault

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// metaRekeyed is the meta bucket's key of the record a re-keyed vault
// keeps: the record-id key it was created with and the outer key of the
// record-key permutation (keys.outer), 32 bytes each, sealed under the
// current master key's sealing key (associated data: bucket "m" and this
// key).
var metaRekeyed = []byte("rekeyed")

// rekeyDir is the folder, inside the vault's, where Rekey builds the new
// vault.keys, vault.db and vault.hdr before moving them into place.
const rekeyDir = "rekey.tmp"

// loadRekeyed installs the record-key permutation of a re-keyed vault,
// read from meta bucket m; a vault never re-keyed has none.
func (v *Vault) loadRekeyed(m *bolt.Bucket) error {
	sealed := m.Get(metaRekeyed)
	if sealed == nil {
		return nil
	}
	pt, err := openRecord(v.keys.seal, bucketMeta, metaRekeyed, sealed)
	if err != nil || len(pt) != 2*keySize {
		clear(pt)
		return fmt.Errorf("%w (it does not belong to %s)", ErrDamaged, HeaderFile)
	}
	return v.keys.setOuter(bytes.Clone(pt[:keySize]), bytes.Clone(pt[keySize:]))
}

// Rekey changes the passphrase and re-encrypts everything under a new
// master key, so that an old vault.hdr (or a backup) and the old
// passphrase open nothing of the vault as it is afterwards.
// ChangePassphrase only rewraps the master key: whoever kept the old
// header and learns the old passphrase still has the master key.
//
// What changes: the master key and everything derived from it (the
// records' sealing key, vault.keys' key, and, through a new permutation
// of every record key, every bbolt key, so the old keys no longer even
// find a record); every record is sealed again under the new sealing
// key into a fresh vault.db (the old file, with its freed pages, is
// replaced, not overwritten); every key slot is sealed again into a new
// vault.keys, each key in the slot it had. What does not: the keys of
// expiring messages and of attachments themselves (they are random and
// were only ever stored sealed in vault.keys), and so the blob files,
// which are not rewritten.
//
// Crash safety: the new vault.keys, vault.db and finally vault.hdr are
// written and synced into rekeyDir; the header's arrival there makes the
// new set complete. Only then are the three moved into place (keys, db,
// header). A crash before the header is in rekeyDir leaves the old vault
// whole (the next Open removes the folder); after it, the next Open
// finishes the moves before reading the header (finishRekey). Either the
// old vault (old passphrase) or the new (new passphrase) opens.
//
// A wrong old passphrase is ErrWrongPassphrase and changes nothing. The
// vault stays unlocked under the new key when Rekey returns nil.
func (v *Vault) Rekey(oldPass, newPass []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		return ErrLocked
	}
	master, err := unwrapKey(v.hdr, oldPass)
	if err != nil {
		return fmt.Errorf("vault: re-key: %w", err)
	}
	same := subtle.ConstantTimeCompare(master, v.keys.master) == 1
	clear(master)
	if !same {
		return fmt.Errorf("vault: re-key: %w: header changed under the open vault", ErrCorrupt)
	}
	if v.shredPending.Load() {
		return fmt.Errorf("vault: re-key: %w", errShredPending)
	}
	newMaster := make([]byte, keySize)
	rand.Read(newMaster)
	nk, err := newKeys(bytes.Clone(newMaster))
	if err != nil {
		return err
	}
	outer := make([]byte, keySize)
	rand.Read(outer)
	if err := nk.setOuter(bytes.Clone(v.keys.id), outer); err != nil {
		return err
	}
	h := *v.hdr
	if v.opts.KDF != (KDFParams{}) {
		h.KDF = v.opts.KDF
	}
	rand.Read(h.Salt[:])
	wrapKey(&h, newPass, newMaster)

	stage := filepath.Join(v.dir, rekeyDir)
	fail := func(err error) error {
		os.RemoveAll(stage)
		nk.wipe()
		clear(newMaster)
		return fmt.Errorf("vault: re-key: %w", err)
	}
	if err := os.RemoveAll(stage); err != nil {
		return fail(err)
	}
	if err := os.Mkdir(stage, 0o700); err != nil {
		return fail(err)
	}
	km, err := keySlotsMaster(newMaster)
	if err != nil {
		return fail(err)
	}
	err = v.ks.CopyTo(filepath.Join(stage, KeysFile), km)
	clear(km)
	if err != nil {
		return fail(err)
	}
	if err := v.rekeyDB(filepath.Join(stage, DBFile), nk); err != nil {
		return fail(err)
	}
	if rekeyHook != nil {
		if err := rekeyHook("staged"); err != nil {
			return fail(err)
		}
	}
	// The new set is complete once its header is in the folder.
	if err := writeHeader(stage, &h); err != nil {
		return fail(err)
	}

	if rekeyHook != nil {
		if err := rekeyHook("complete"); err != nil {
			nk.wipe()
			clear(newMaster)
			return fmt.Errorf("vault: re-key: %w", err)
		}
	}
	// From here on the next Open finishes the switch if this does not.
	v.db.Close()
	v.ks.Close()
	v.db, v.ks = nil, nil
	v.keys.wipe()
	v.keys = nil // locked until the new files are open
	if err := finishRekey(v.dir); err != nil {
		nk.wipe()
		clear(newMaster)
		return fmt.Errorf("vault: re-key: %w (the next unlock with the new passphrase completes it)", err)
	}
	db, err := openDB(filepath.Join(v.dir, DBFile), v.opts)
	if err != nil {
		nk.wipe()
		clear(newMaster)
		return fmt.Errorf("vault: re-key: reopening: %w", err)
	}
	ks, err := openKeySlots(v.dir, newMaster, false)
	clear(newMaster)
	if err != nil {
		db.Close()
		nk.wipe()
		return fmt.Errorf("vault: re-key: reopening: %w", err)
	}
	v.db, v.ks, v.keys, v.hdr = db, ks, nk, &h
	v.keychainStore()
	return nil
}

// rekeyHook, if set (tests), is called at the named points of Rekey; an
// error stops it there, as a crash would.
var rekeyHook func(point string) error

// rekeyDB writes a new vault.db at path holding every record of the open
// one sealed under nk, at its key permuted under nk's outer key instead
// of the current one. A record that fails to open stops it (ErrCorrupt):
// nothing is lost by not re-keying, much by dropping a record.
func (v *Vault) rekeyDB(path string, nk *keys) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: v.opts.NoSync, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	oldCheck := v.keys.recordKey(tCheck, "", 0)
	err = v.db.View(func(otx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketRecords, bucketExpiry} {
			ob := otx.Bucket(name)
			if ob == nil {
				return fmt.Errorf("%w: no bucket %q", ErrCorrupt, name)
			}
			err := db.Update(func(ntx *bolt.Tx) error {
				nb, err := ntx.CreateBucket(name)
				if err != nil {
					return err
				}
				return ob.ForEach(func(k, sealed []byte) error {
					if sealed == nil {
						return fmt.Errorf("%w: nested bucket in %q", ErrCorrupt, name)
					}
					if bytes.Equal(name, bucketMeta) {
						switch {
						case bytes.Equal(k, metaRekeyed):
							return nil // written anew below
						case bytes.Equal(k, oldCheck):
							ck := nk.recordKey(tCheck, "", 0)
							return nb.Put(ck, sealRecord(nk.seal, bucketMeta, ck, v.hdr.VaultID[:]))
						}
						return nb.Put(k, sealed) // clear metadata (versions)
					}
					if len(k) != recordKeySize {
						return fmt.Errorf("%w: record key of %d bytes in %q", ErrCorrupt, len(k), name)
					}
					pt, err := openRecord(v.keys.seal, name, k, sealed)
					if err != nil {
						return err
					}
					nkey := bytes.Clone(k)
					if v.keys.block != nil {
						v.keys.block.Decrypt(nkey, nkey)
					}
					nkey = nk.permute(nkey)
					err = nb.Put(nkey, sealRecord(nk.seal, name, nkey, pt))
					clear(pt)
					return err
				})
			})
			if err != nil {
				return err
			}
		}
		return db.Update(func(ntx *bolt.Tx) error {
			pt := append(bytes.Clone(nk.id), nk.outer...)
			defer clear(pt)
			return ntx.Bucket(bucketMeta).Put(metaRekeyed, sealRecord(nk.seal, bucketMeta, metaRekeyed, pt))
		})
	})
	if err == nil {
		err = db.Sync()
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// finishRekey completes or discards a re-key found in dir's rekeyDir. A
// folder holding its header is a complete new set: its files are moved
// into place, the header last, and the folder removed. A folder without
// one is a re-key that stopped before its switch (the old files are
// untouched) or after its last move: it is removed.
func finishRekey(dir string) error {
	stage := filepath.Join(dir, rekeyDir)
	if _, err := os.Lstat(stage); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(stage, HeaderFile)); err == nil {
		for _, name := range []string{KeysFile, DBFile, HeaderFile} {
			src := filepath.Join(stage, name)
			if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
				continue // moved before a crash
			}
			if err := os.Rename(src, filepath.Join(dir, name)); err != nil {
				return err
			}
			if err := syncDir(dir); err != nil {
				return err
			}
			if rekeyHook != nil {
				if err := rekeyHook("moved " + name); err != nil {
					return err
				}
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.RemoveAll(stage)
}
