package identity

import "errors"

// Errors wrapped by this package's decoders and checks.
var (
	// ErrMalformed: the bytes are not a valid encoding (length, structure,
	// key or pseudonym rules).
	ErrMalformed = errors.New("identity: malformed encoding")
	// ErrUnsupportedVersion: the encoding names a version this code does not
	// speak.
	ErrUnsupportedVersion = errors.New("identity: unsupported version")
	// ErrBadSignature: a Bundle's signature does not verify.
	ErrBadSignature = errors.New("identity: bad bundle signature")
	// ErrInvalidPseudonym: a pseudonym breaks the rules of ValidatePseudonym.
	ErrInvalidPseudonym = errors.New("identity: invalid pseudonym")
	// ErrOwnCode: a scanned safety-number QR code is the scanner's own.
	ErrOwnCode = errors.New("identity: scanned your own safety-number code")
)
