//go:build !(linux || darwin || freebsd)

package boltstore

// diskFree is unknown here: only Options.MaxBytes bounds the store.
func diskFree(dir string) int64 { return -1 }
