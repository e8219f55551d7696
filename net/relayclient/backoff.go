package relayclient

import (
	"encoding/binary"
	"io"
	"time"
)

// backoff returns the wait after the n-th consecutive failed connection
// (n ≥ 1): uniformly random in [0, min(hi, lo·2ⁿ⁻¹)], the "full jitter" of
// https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/,
// so clients that lost the same relay do not come back in step. When rnd
// fails the ceiling itself is used.
func backoff(rnd io.Reader, lo, hi time.Duration, n int) time.Duration {
	ceil := lo
	for i := 1; i < n && ceil < hi; i++ {
		ceil *= 2
	}
	ceil = min(ceil, hi)
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return ceil
	}
	return time.Duration(binary.BigEndian.Uint64(b[:]) % uint64(ceil+1))
}
