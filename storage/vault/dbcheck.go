package vault

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/ephemera-im/ephemera/internal/boltcheck"
)

// checkDB checks vault.db, reading only, before bbolt opens it
// (internal/boltcheck says why and what): a missing, empty, truncated or
// damaged file is ErrDamaged naming it, and is left as it is.
func checkDB(path string) error {
	err := boltcheck.Check(path)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("vault: open %s: %w (missing)", path, ErrDamaged)
	case errors.Is(err, boltcheck.ErrDamaged):
		return fmt.Errorf("vault: open %s: %w (%v)", path, ErrDamaged, err)
	}
	return fmt.Errorf("vault: open: %w", err)
}
