package envelope

import "fmt"

// Envelope is the parsed outer format of an envelope, before decryption.
// Parse and Marshal are exact inverses on valid input. The fields alias the
// bytes given to Parse.
type Envelope struct {
	Version    byte
	Enc        []byte // EncSize bytes: the HPKE encapsulated key
	Ciphertext []byte // a bucket size plus TagSize bytes
}

// Parse checks an envelope's outer format without decrypting it: its size
// (at most MaxSize, and exactly a bucket plus Overhead) and its version. A
// relay or client may use it to drop junk early; it proves nothing about who
// made the envelope.
func Parse(b []byte) (Envelope, error) {
	if len(b) > MaxSize {
		return Envelope{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxSize)
	}
	if len(b) < 1 {
		return Envelope{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if b[0] != Version {
		return Envelope{}, fmt.Errorf("%w: %d", ErrVersion, b[0])
	}
	if len(b) < MinSize {
		return Envelope{}, fmt.Errorf("%w: %d bytes, at least %d", ErrMalformed, len(b), MinSize)
	}
	if !isBucket(len(b) - Overhead) {
		return Envelope{}, fmt.Errorf("%w: %d bytes is not a bucket size", ErrMalformed, len(b))
	}
	return Envelope{
		Version:    b[0],
		Enc:        b[1 : 1+EncSize],
		Ciphertext: b[1+EncSize:],
	}, nil
}

// Marshal returns the envelope's bytes.
func (e Envelope) Marshal() []byte {
	out := make([]byte, 0, 1+len(e.Enc)+len(e.Ciphertext))
	out = append(out, e.Version)
	out = append(out, e.Enc...)
	return append(out, e.Ciphertext...)
}
