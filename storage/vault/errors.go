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
	// ErrNewerVersion: the vault was written by a newer schema version
	// than this program reads. Nothing was changed.
	ErrNewerVersion = errors.New("vault: written by a newer version")
	// ErrWeakKDF: Argon2id parameters below the accepted minimum, in a
	// header (a downgrade) or in Options.
	ErrWeakKDF = errors.New("vault: Argon2id parameters below the minimum")
	// ErrExists: Create found a vault already in the directory.
	ErrExists = errors.New("vault: already exists")
	// ErrNotFound: no record with that name or id.
	ErrNotFound = errors.New("vault: not found")
)
