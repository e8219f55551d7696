package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactSuffix names the temporary file Compact writes next to vault.db.
const compactSuffix = ".compact"

// Compact rewrites vault.db into a fresh file holding only live records
// (bbolt.Compact into vault.db.compact, fsync, rename over vault.db,
// fsync of the directory), so pages freed by deletions and updates,
// which keep old ciphertext until bbolt reuses them, are no longer part
// of the file. Calls wait while it runs. A crash leaves the old vault.db
// or the new one, and Open removes a leftover temporary file. What it
// cannot promise about the old file's blocks on the device is in the
// package doc.
func (v *Vault) Compact() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys == nil {
		return ErrLocked
	}
	path := filepath.Join(v.dir, DBFile)
	tmp := path + compactSuffix
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("vault: compact: %w", err)
	}
	dst, err := openDB(tmp, Options{}) // synced, whatever v.opts.NoSync
	if err != nil {
		return fmt.Errorf("vault: compact: %w", err)
	}
	err = bolt.Compact(dst, v.db, 4<<20)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vault: compact: %w", err)
	}
	if err := v.db.Close(); err != nil {
		os.Remove(tmp)
		return v.reopenAfter(fmt.Errorf("vault: compact: %w", err))
	}
	v.db = nil
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return v.reopenAfter(fmt.Errorf("vault: compact: %w", err))
	}
	if err := syncDir(v.dir); err != nil {
		return v.reopenAfter(fmt.Errorf("vault: compact: %w", err))
	}
	v.expired.Store(0)
	return v.reopenAfter(nil)
}

// reopenAfter reopens vault.db after Compact closed it, returning cause
// (or the reopen's error). If vault.db cannot be reopened the vault is
// locked. v.mu is held.
func (v *Vault) reopenAfter(cause error) error {
	if v.db != nil {
		return cause
	}
	db, err := openDB(filepath.Join(v.dir, DBFile), v.opts)
	if err != nil {
		v.keys.wipe()
		v.keys = nil
		v.ks.Close()
		return errors.Join(cause, fmt.Errorf("vault: compact: reopening, vault locked: %w", err))
	}
	v.db = db
	return cause
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
