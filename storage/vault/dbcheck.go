package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// checkDB checks, reading only, that vault.db is there and not empty.
func checkDB(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("vault: open %s: %w (missing)", path, ErrDamaged)
	}
	if err != nil {
		return fmt.Errorf("vault: open: %w", err)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("vault: open %s: %w (empty)", path, ErrDamaged)
	}
	return nil
}
