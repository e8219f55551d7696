package vault

import (
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KDFParams are the Argon2id parameters that stretch the passphrase.
type KDFParams struct {
	MemoryKiB uint32 // memory in KiB
	Passes    uint32 // passes over the memory (Argon2's "time")
	Threads   uint8  // lanes; part of the result, so stored
}

// DefaultKDF is used by Create unless Options.KDF says otherwise: 64 MiB,
// 3 passes, 1 lane, about 0.4-0.5 s on the 2-core dev machine
// (BenchmarkUnlock). One lane because the dev machine's second core made
// 2 lanes only 1.3-1.9x faster while halving the time an attacker's
// single guess costs us per unit of memory-hardness we pay for.
var DefaultKDF = KDFParams{MemoryKiB: 64 << 10, Passes: 3, Threads: 1}

// Bounds on parameters accepted from a header or Options. The minimum is
// the default: a header asking for less is a downgrade and is refused
// (unless Options.InsecureTestKDF). The maxima keep a hostile header from
// exhausting memory or hanging the unlock.
var (
	minKDF     = DefaultKDF
	maxKDF     = KDFParams{MemoryKiB: 1 << 20, Passes: 10, Threads: 16}
	testKDF    = KDFParams{MemoryKiB: 64, Passes: 1, Threads: 1}
	minTestKDF = KDFParams{MemoryKiB: 8, Passes: 1, Threads: 1}
)

// check reports whether p is within bounds; insecure lowers the minimum
// to what tests use.
func (p KDFParams) check(insecure bool) error {
	lo := minKDF
	if insecure {
		lo = minTestKDF
	}
	switch {
	case p.MemoryKiB > maxKDF.MemoryKiB || p.Passes > maxKDF.Passes || p.Threads > maxKDF.Threads:
		return fmt.Errorf("%w: Argon2id parameters %+v above the maximum %+v", ErrCorrupt, p, maxKDF)
	case p.MemoryKiB < lo.MemoryKiB || p.Passes < lo.Passes || p.Threads < lo.Threads:
		return fmt.Errorf("%w: Argon2id parameters %+v below the minimum %+v", ErrWeakKDF, p, lo)
	case p.MemoryKiB < 8*uint32(p.Threads):
		return fmt.Errorf("%w: Argon2id memory %d KiB below 8 KiB per lane", ErrCorrupt, p.MemoryKiB)
	}
	return nil
}

// deriveKEK stretches the passphrase into the key-encryption key.
func deriveKEK(passphrase []byte, salt []byte, p KDFParams) []byte {
	return argon2.IDKey(passphrase, salt, p.Passes, p.MemoryKiB, p.Threads, keySize)
}
