package vault

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Schema migrations. vault.db records its own data version in the meta
// bucket (key metaVersion, a big-endian uint16 in the clear, like the
// header's), next to the header's version. Open, once the passphrase and
// the check record are verified:
//
//  1. reads the data version (a vault.db without one has the header's);
//  2. if it is older than currentVersion, runs migrations[n] for every n
//     from it up to currentVersion-1 and stores the new data version, all
//     in one bbolt transaction: the data is migrated entirely or not at
//     all;
//  3. if the header's version differs from the data's, rewraps the master
//     key (the version is part of the wrapped key's associated data) and
//     replaces vault.hdr atomically.
//
// A crash between 2 and 3 leaves a header older than the data; the next
// Open sees the data version, runs no migration, and finishes step 3. A
// migration thus runs to commit at most once, and migrations need not be
// idempotent across crashes, though keeping them so costs little.

// metaVersion is the meta bucket's key of vault.db's data version.
var metaVersion = []byte("version")

// migration moves vault.db's data from one version to the next inside
// tx. k holds the vault's keys.
type migration func(tx *bolt.Tx, k *keys) error

// migrations[n] migrates version n to n+1. A nil entry for a version
// older than currentVersion is an error.
var migrations = map[uint16]migration{
	1: refuseV1,
}

// currentVersion is SchemaVersion; tests raise it to exercise migrations.
var currentVersion uint16 = SchemaVersion

// migrateHook, if set, is called after the data migration committed and
// before the header is rewritten; an error stops Open there, as a crash
// would. For tests.
var migrateHook func() error

// refuseV1 refuses version 1: that pre-release format changed (message
// records, expiry entries) without a version bump, so a version 1 vault
// can hold either layout and cannot be migrated with confidence. No
// released program wrote one.
func refuseV1(*bolt.Tx, *keys) error {
	return fmt.Errorf("%w: schema version 1 is a pre-release format; create a new vault", ErrOldVersion)
}

func encodeVersion(n uint16) []byte { return binary.BigEndian.AppendUint16(nil, n) }

func decodeVersion(b []byte) (uint16, error) {
	if len(b) != 2 || binary.BigEndian.Uint16(b) == 0 {
		return 0, fmt.Errorf("%w: data version %x", ErrCorrupt, b)
	}
	return binary.BigEndian.Uint16(b), nil
}

// migrate brings vault.db and the header to currentVersion; see above.
// kek is the key that unwrapped the master key.
func (v *Vault) migrate(kek []byte) error {
	data := v.hdr.Version
	err := v.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta).Get(metaVersion)
		if b == nil {
			return nil
		}
		var err error
		data, err = decodeVersion(b)
		return err
	})
	switch {
	case err != nil:
		return err
	case data > currentVersion:
		return fmt.Errorf("%w: %s has data version %d, this program reads up to %d", ErrNewerVersion, DBFile, data, currentVersion)
	case data < v.hdr.Version:
		// Data is migrated before the header, never after.
		return fmt.Errorf("%w: %s has data version %d, older than the header's %d", ErrCorrupt, DBFile, data, v.hdr.Version)
	}
	if data < currentVersion {
		err := v.db.Update(func(tx *bolt.Tx) error {
			for n := data; n < currentVersion; n++ {
				m := migrations[n]
				if m == nil {
					return fmt.Errorf("%w: no migration from schema version %d", ErrOldVersion, n)
				}
				if err := m(tx, v.keys); err != nil {
					return fmt.Errorf("migrating from schema version %d: %w", n, err)
				}
			}
			return tx.Bucket(bucketMeta).Put(metaVersion, encodeVersion(currentVersion))
		})
		if err != nil {
			return err
		}
		data = currentVersion
		if migrateHook != nil {
			if err := migrateHook(); err != nil {
				return err
			}
		}
	}
	if v.hdr.Version == data {
		return nil
	}
	h := *v.hdr
	h.Version = data
	sealWith(&h, kek, v.keys.master)
	if err := writeHeader(v.dir, &h); err != nil {
		return fmt.Errorf("rewriting %s for schema version %d: %w", HeaderFile, data, err)
	}
	v.hdr = &h
	return nil
}
