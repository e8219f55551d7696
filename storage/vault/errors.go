package vault

import "errors"

var (
	// ErrWrongPassphrase: the passphrase does not unwrap the master key.
	// Nothing on disk was changed.
	ErrWrongPassphrase = errors.New("vault: wrong passphrase")
	// ErrLocked: the vault was locked (or closed); open it again.
	ErrLocked = errors.New("vault: locked")
	// ErrNotVault: the directory holds no vault header, or the header is
	// not one (wrong magic).
	ErrNotVault = errors.New("vault: not a vault")
	// ErrCorrupt: the header or vault.db is damaged or truncated, or a
	// sealed record fails to open.
	ErrCorrupt = errors.New("vault: corrupt")
	// ErrDamaged: a file of the vault (vault.db or vault.keys) is
	// missing, truncated, overwritten or belongs to another vault. The
	// error names the file; nothing on disk was changed, and restoring
	// the file from a backup restores everything. It matches ErrCorrupt
	// too (errors.Is), which callers that predate it test.
	ErrDamaged error = damagedError{}
	// ErrNewerVersion: the vault was written by a newer schema version
	// than this program reads. Nothing was changed.
	ErrNewerVersion = errors.New("vault: written by a newer version")
	// ErrOldVersion: the vault was written by an older schema version
	// that this program cannot migrate. Nothing was changed.
	ErrOldVersion = errors.New("vault: written by an older version that cannot be migrated")
	// ErrWeakKDF: Argon2id parameters below the accepted minimum, in a
	// header (a downgrade) or in Options.
	ErrWeakKDF = errors.New("vault: Argon2id parameters below the minimum")
	// ErrExists: Create found a vault already in the directory.
	ErrExists = errors.New("vault: already exists")
	// ErrNotBackup: Import was given something that is not a backup.
	ErrNotBackup = errors.New("vault: not a backup")
	// ErrNotEmpty: Import's target folder is not empty.
	ErrNotEmpty = errors.New("vault: folder not empty")
	// ErrNotFound: no record with that name or id.
	ErrNotFound = errors.New("vault: not found")
)

// damagedError is ErrDamaged's type: its own text, and ErrCorrupt
// beneath it.
type damagedError struct{}

func (damagedError) Error() string {
	return "the vault file is damaged; restore it from a backup"
}

func (damagedError) Unwrap() error { return ErrCorrupt }
