package vault

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// The header, vault.hdr, is a fixed-size binary record (all integers big
// endian):
//
//	magic      8  "EPHVAULT"
//	version    2  schema version (SchemaVersion)
//	kdf        1  1 = Argon2id
//	memory     4  Argon2id memory in KiB
//	passes     4  Argon2id passes (time)
//	threads    1  Argon2id lanes
//	salt      16
//	vault id  16  random; binds vault.db's check record to this header
//	nonce     24  XChaCha20-Poly1305 nonce of the wrapped key
//	wrapped   48  master key (32) sealed under the Argon2id key, with
//	              every byte before the nonce as associated data
//	checksum  32  SHA-256 of everything before it
//
// The checksum is not a security measure (the AEAD is): it tells a
// damaged header (ErrCorrupt) apart from a wrong passphrase, which would
// otherwise both be an AEAD failure.
const (
	headerMagic   = "EPHVAULT"
	kdfArgon2id   = 1
	saltSize      = 16
	vaultIDSize   = 16
	keySize       = 32
	nonceSize     = 24
	wrappedSize   = keySize + 16
	fixedPrefix   = len(headerMagic) + 2 // what every version starts with
	headerAADSize = fixedPrefix + 1 + 4 + 4 + 1 + saltSize + vaultIDSize
	headerSize    = headerAADSize + nonceSize + wrappedSize + sha256.Size
)

// SchemaVersion is the vault format this code writes and the newest it
// reads. A header with a larger version is refused with ErrNewerVersion;
// an older one is migrated on Open (migrate.go).
//
// Version 2: message records hold (slot+1, payload) and messages carry
// a burn-on-read flag; expiry entries name their key slot. Version 1 was
// never released and its layout changed without a bump, so a version 1
// vault is refused (ErrOldVersion) rather than migrated.
//
// Version 3: attachment keys live in key slots (the attachment record
// names the slot and the owning message); messages may list their
// attachments; message records and conversation spans carry order times
// for paging by time. Version 2 vaults are migrated (migrate.go).
//
// Version 4: a conversation's messages are stored in pages of 16, one
// sealed record per page (page.go) instead of one per message; messages
// that can expire stay sealed under their own keys inside the page.
// Version 3 vaults (and version 2, through 3) are migrated.
const SchemaVersion = 4

// header is the decoded vault.hdr.
type header struct {
	Version uint16
	KDF     KDFParams
	Salt    [saltSize]byte
	VaultID [vaultIDSize]byte
	Nonce   [nonceSize]byte
	Wrapped [wrappedSize]byte
}

// encode returns the header's bytes, checksum included.
func (h *header) encode() []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, h.aad()...)
	b = append(b, h.Nonce[:]...)
	b = append(b, h.Wrapped[:]...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// aad is the part of the header the wrapped key is bound to.
func (h *header) aad() []byte {
	b := make([]byte, 0, headerAADSize)
	b = append(b, headerMagic...)
	b = binary.BigEndian.AppendUint16(b, h.Version)
	b = append(b, kdfArgon2id)
	b = binary.BigEndian.AppendUint32(b, h.KDF.MemoryKiB)
	b = binary.BigEndian.AppendUint32(b, h.KDF.Passes)
	b = append(b, h.KDF.Threads)
	b = append(b, h.Salt[:]...)
	return append(b, h.VaultID[:]...)
}

// decodeHeader parses b. It checks the format only; the KDF parameters
// are checked against the caller's bounds by KDFParams.check.
func decodeHeader(b []byte) (*header, error) {
	if len(b) < len(headerMagic) {
		if len(b) > 0 && bytes.HasPrefix([]byte(headerMagic), b) {
			return nil, fmt.Errorf("%w: header truncated to %d bytes", ErrCorrupt, len(b))
		}
		return nil, ErrNotVault
	}
	if string(b[:len(headerMagic)]) != headerMagic {
		return nil, ErrNotVault
	}
	if len(b) < fixedPrefix {
		return nil, fmt.Errorf("%w: header truncated to %d bytes", ErrCorrupt, len(b))
	}
	h := new(header)
	h.Version = binary.BigEndian.Uint16(b[len(headerMagic):])
	switch {
	case h.Version == 0:
		return nil, fmt.Errorf("%w: schema version 0", ErrCorrupt)
	case h.Version > currentVersion:
		return nil, fmt.Errorf("%w: schema version %d, this program reads up to %d", ErrNewerVersion, h.Version, currentVersion)
	}
	if len(b) != headerSize {
		return nil, fmt.Errorf("%w: header is %d bytes, want %d", ErrCorrupt, len(b), headerSize)
	}
	sum := sha256.Sum256(b[:headerSize-sha256.Size])
	if subtle.ConstantTimeCompare(sum[:], b[headerSize-sha256.Size:]) != 1 {
		return nil, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	p := b[fixedPrefix:]
	if p[0] != kdfArgon2id {
		return nil, fmt.Errorf("%w: unknown KDF %d", ErrCorrupt, p[0])
	}
	h.KDF.MemoryKiB = binary.BigEndian.Uint32(p[1:])
	h.KDF.Passes = binary.BigEndian.Uint32(p[5:])
	h.KDF.Threads = p[9]
	p = p[10:]
	p = p[copy(h.Salt[:], p):]
	p = p[copy(h.VaultID[:], p):]
	p = p[copy(h.Nonce[:], p):]
	copy(h.Wrapped[:], p)
	return h, nil
}
