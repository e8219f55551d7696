package vault

import (
	"encoding/base64"
	"errors"
	"fmt"

	keyring "github.com/zalando/go-keyring"
)

// OSKeychain is the operating system's key store as a Keychain, through
// github.com/zalando/go-keyring: Secret Service over D-Bus on Linux (a
// running keyring daemon such as GNOME Keyring or KWallet is needed),
// Keychain on macOS, Credential Manager on Windows. The zero value uses
// the service name "Ephemera vault".
//
// The library passes secrets as strings, which cannot be wiped from
// memory; whoever can read the user's unlocked key store can read the
// master key, which is what this option trades for convenience.
type OSKeychain struct {
	// Service names the entries' service (their group in the store).
	Service string
}

func (k OSKeychain) service() string {
	if k.Service == "" {
		return "Ephemera vault"
	}
	return k.Service
}

// Store saves key as the entry for vault id.
func (k OSKeychain) Store(id string, key []byte) error {
	if err := keyring.Set(k.service(), id, base64.StdEncoding.EncodeToString(key)); err != nil {
		return fmt.Errorf("keychain: %w", err)
	}
	return nil
}

// Load returns the entry for vault id (ErrNotFound if none).
func (k OSKeychain) Load(id string) ([]byte, error) {
	s, err := keyring.Get(k.service(), id)
	if errors.Is(err, keyring.ErrNotFound) {
		return nil, fmt.Errorf("keychain entry %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("keychain: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("keychain entry %s: %w: %v", id, ErrCorrupt, err)
	}
	return key, nil
}

// Delete removes the entry for vault id; a missing one is no error.
func (k OSKeychain) Delete(id string) error {
	if err := keyring.Delete(k.service(), id); err != nil && !errors.Is(err, keyring.ErrNotFound) {
		return fmt.Errorf("keychain: %w", err)
	}
	return nil
}
