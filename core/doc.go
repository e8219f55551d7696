// Package core is the heart of Ephemera shared by every front end: the
// desktop GUI and the headless CLI are two clients of it.
//
// It is a folder of packages, none of which imports Fyne; all of them build
// and test with CGO_ENABLED=0 and no display:
//
//   - identity: the user's keys (Ed25519 signing key, X25519 key signed by
//     it, HPKE envelope key), pseudonym, public bundle and safety numbers.
//   - invite: invite codes and their QR form.
//   - session: the end-to-end protocol — prekeys, a PQXDH-style handshake
//     with ML-KEM-768, then a Double Ratchet with header encryption and
//     ML-KEM steps.
//   - envelope: sealed sender — what the relay holds, encrypted to the
//     recipient with HPKE and padded to size buckets.
//   - message: the contents carried inside the ratchet (id, time, kind,
//     expiry settings).
//   - media: the sanitizer that strips location, device, dates, thumbnails
//     and text chunks from shared images and documents before they are
//     encrypted, and reports what it removed.
//   - links: offline analysis of links (lookalike domains, punycode, hidden
//     redirects, mismatched text) and previews the user allows.
//   - messenger: the one API front ends use — contacts, conversations, the
//     outbox, disappearing-message timers — which reports what happens as
//     events for the front end to show.
//
// docs/DESIGN.md (shared) describes how these fit with storage/ and net/.
package core
