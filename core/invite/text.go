package invite

import (
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Prefix starts every invite code. Parse accepts it in any case.
const Prefix = "EPHEMERA:"

// MaxText bounds the pasted text Parse accepts, white space included.
const MaxText = 4096

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var (
	b32 = base32.NewEncoding(crockford).WithPadding(base32.NoPadding)
	// castagnoli is made on first use: every process importing the
	// package would otherwise build its tables at start.
	castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })
)

// String returns the invite code: Prefix and the Crockford base32 of the
// binary form followed by its CRC-32C.
func (inv *Invite) String() string {
	b := inv.Marshal()
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli()))
	return Prefix + b32.EncodeToString(b)
}

// Parse decodes a pasted or scanned invite code, verifies it and checks that
// it has not expired at now. It ignores case, white space and dashes. A code
// with a typo gives an error wrapping ErrChecksum; the other errors are those
// of ParseBinary, or ErrMalformed.
func Parse(text string, now time.Time) (*Invite, error) {
	if len(text) > MaxText {
		return nil, fmt.Errorf("%w: %d characters, limit %d", ErrMalformed, len(text), MaxText)
	}
	body, err := normalize(text)
	if err != nil {
		return nil, err
	}
	raw, err := decodeBase32(body)
	if err != nil {
		return nil, err
	}
	if len(raw) < checksumSize {
		return nil, fmt.Errorf("%w: too short", ErrChecksum)
	}
	payload, sum := raw[:len(raw)-checksumSize], raw[len(raw)-checksumSize:]
	if crc32.Checksum(payload, castagnoli()) != binary.BigEndian.Uint32(sum) {
		return nil, fmt.Errorf("%w: check the code for a wrong, missing or extra character", ErrChecksum)
	}
	return ParseBinary(payload, now)
}

// normalize strips the prefix, white space and dashes, and maps the code to
// upper-case Crockford base32.
func normalize(text string) (string, error) {
	text = strings.TrimSpace(text)
	if len(text) < len(Prefix) || !strings.EqualFold(text[:len(Prefix)], Prefix) {
		return "", fmt.Errorf("%w: not an Ephemera invite code (it should start with %q)", ErrMalformed, Prefix)
	}
	var sb strings.Builder
	sb.Grow(len(text) - len(Prefix))
	for i, r := range text[len(Prefix):] {
		if unicode.IsSpace(r) || r == '-' {
			continue
		}
		r = unicode.ToUpper(r)
		switch r {
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if r > unicode.MaxASCII || !strings.ContainsRune(crockford, r) {
			return "", fmt.Errorf("%w: %q at position %d is not used in invite codes", ErrChecksum, r, len(Prefix)+i+1)
		}
		sb.WriteRune(r)
	}
	return sb.String(), nil
}

func decodeBase32(s string) ([]byte, error) {
	// Lengths 1, 3 and 6 mod 8 are impossible in unpadded base32, and so is
	// more text than the largest invite needs.
	if max := b32.EncodedLen(MaxBinary + checksumSize); len(s) > max {
		return nil, fmt.Errorf("%w: %d characters, longer than any invite code", ErrMalformed, len(s))
	}
	raw, err := b32.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: a character is missing or extra", ErrChecksum)
	}
	// Unused low bits of the last character must be zero, so that one
	// invite has exactly one code.
	if b32.EncodeToString(raw) != s {
		return nil, fmt.Errorf("%w: the last character is wrong", ErrChecksum)
	}
	return raw, nil
}
