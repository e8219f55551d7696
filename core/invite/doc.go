// Package invite makes and reads invite codes: the short text (and QR code)
// one person gives another so the other can add them as a contact, with no
// phone number, e-mail or directory.
//
// An invite carries what the invitee needs to reach the inviter and check,
// later, that they reached the right person:
//
//   - the inviter's pseudonym, Ed25519 identity key and X25519 identity key;
//   - the SHA-256 digest of the inviter's HPKE envelope key, not the key;
//   - the relay URL (normalised by wsconn.NormalizeURL), the mailbox id to
//     send to and the mailbox's 32-byte send token;
//   - a random 16-byte invite id, an expiry time and a one-time-use flag;
//   - an Ed25519 signature by the identity key over all of the above, under
//     the label "ephemera/invite/v1".
//
// # Why the envelope key is not in the invite
//
// The sealed-sender envelope key is an MLKEM768-X25519 HPKE public key of
// 1216 bytes; everything else in an invite is about 300 bytes. Carrying it
// would make the code about 2,400 characters instead of about 480 and the QR
// code too dense to scan comfortably from a screen. The invitee cannot start
// the PQXDH handshake from the invite alone anyway: it must fetch the
// inviter's prekey bundle from the relay (ClaimPrekey on the invite's
// mailbox), and that prekey bundle carries the inviter's full identity Bundle
// with the envelope key. The invite commits to that key by digest and to both
// identity keys, so [Invite.MatchBundle] rejects any Bundle the relay might
// substitute; a relay can withhold the Bundle but not swap it.
//
// # Encodings
//
// The binary form ([Invite.Marshal], [ParseBinary]), integers big-endian:
//
//	u8   version = 2 (1: an older messenger protocol, refused)
//	u8   flags: bit 0 = one-time; other bits must be zero
//	[16] invite id
//	u32  expiry, Unix seconds (UTC)
//	[32] mailbox id
//	[32] send token
//	[32] Ed25519 identity key
//	[32] X25519 identity key
//	[32] SHA-256 of the HPKE envelope public key
//	u16  pseudonym length, pseudonym (UTF-8, identity.ValidatePseudonym)
//	u8   relay URL length (1..255), relay URL (canonical per NormalizeURL)
//	[64] Ed25519 signature of u16(len(label)) || label || all bytes above
//
// The text form ([Invite.String], [Parse]) is "EPHEMERA:" followed by the
// binary form and its CRC-32C (Castagnoli, big-endian) in Crockford base32
// without padding, upper case. Parse ignores case, white space and dashes
// anywhere, reads O as 0 and I and L as 1. The CRC-32 detects every error
// burst of up to 32 bits, so any single mistyped character (5 bits) or two
// swapped neighbours (10 bits) is reported as ErrChecksum ("invite code is
// mistyped") before the signature is looked at. The QR payload is the same
// text: upper-case base32 and ':' fit the QR alphanumeric mode, and any
// scanner app yields a string the user can paste.
//
// # What an invite protects and what it does not
//
// The signature makes an invite all-or-nothing: no one can change the relay,
// mailbox, expiry or flags of an invite without the inviter's key. It does not
// make the invite authentic: whoever can replace the invite in transit can
// replace it whole with their own. Only comparing safety numbers
// (core/identity) detects that. The invite is a bearer secret while valid:
// anyone who sees it can send to the mailbox (the send token) and learns the
// pseudonym and keys. Expiry is checked against the invitee's clock; the
// one-time flag is enforced by the inviter, who refuses a second contact
// request naming the same invite id.
package invite
