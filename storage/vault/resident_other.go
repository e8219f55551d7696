//go:build !linux

package vault

import bolt "go.etcd.io/bbolt"

// releaseResident does nothing outside Linux (see resident_linux.go).
func releaseResident(*bolt.DB, string) {}
