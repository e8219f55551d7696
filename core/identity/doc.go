// Package identity holds an Ephemera user's long-term identity: the keys made
// on the device, the pseudonym the user chose, the public Bundle others see,
// and the safety numbers two people compare to know they talk to each other.
//
// An Identity is three key pairs and a name:
//
//   - an Ed25519 signing key, the root of the identity: it signs the Bundle
//     and invites, and its public key is what safety numbers stand for;
//   - an X25519 key, the identity DH key of the PQXDH-style handshake
//     (core/session), certified by the signing key;
//   - an HPKE key pair for sealed-sender envelopes, KEM
//     MLKEM768-X25519 (hpke.MLKEM768X25519, KEM id 0x647a), also certified;
//   - a pseudonym: any UTF-8 text of 1 to 64 characters after trimming
//     spaces, without control, line-separator, invisible or bidirectional
//     formatting characters. It is not normalised (NFC or otherwise): two
//     names that look alike may differ in bytes, which is one reason people
//     compare safety numbers, not names.
//
// Encodings (all integers big-endian; docs/E2E-IDENTITY.md has the tables):
//
//   - The private identity (for the vault, [Identity.MarshalBinary] and
//     [ParsePrivate]): version 1, the Ed25519 seed, the X25519 private key,
//     the HPKE private key (a 32-byte seed), a u16-prefixed pseudonym.
//   - The public [Bundle] ([Bundle.Marshal] and [ParseBundle]): version 1, a
//     u16-prefixed pseudonym, the Ed25519 and X25519 public keys, the
//     1216-byte HPKE public key and an Ed25519 signature. The signature covers
//     a domain-separated, type-prefixed input that commits to the HPKE key by
//     its SHA-256 digest, so a party holding only the digest (an invite) can
//     check a Bundle fetched later against it.
//
// Decoders take outside bytes: they check sizes before reading, reject
// trailing bytes and non-canonical forms, never panic, and wrap the sentinel
// errors below so callers can use errors.Is.
//
// Safety numbers follow the idea of Signal's numeric fingerprints: each
// identity's fingerprint is SHA-512 iterated 5200 times over a version and the
// identity's Ed25519 and X25519 public keys; the two fingerprints, sorted,
// give 60 digits in 12 groups of 5 that both people see identically. The QR
// payload carries both fingerprints, the shower's first, so scanning one's own
// screen by mistake is told apart from a match.
//
// What this package does not do: it does not make a pseudonym unique or
// true (anyone may call themselves anything), it does not protect the private
// encoding (the vault seals it), and Go cannot guarantee that private key
// bytes are wiped from memory.
package identity
