// Package storage holds Ephemera's encrypted vault on go.etcd.io/bbolt.
//
// A passphrase, stretched with Argon2id, unwraps a master key; every record
// is sealed with an AEAD under it and its bbolt key reveals nothing. Messages
// that disappear are sealed under keys of their own kept in slots outside
// bbolt and overwritten on expiry (crypto-shredding), because bbolt keeps
// deleted pages on disk until it reuses them. An expiry index lets the vault
// destroy expired messages at run time and at every start-up.
//
// Subpackages:
//
//   - vault: the vault files (vault.hdr, vault.db, vault.keys, blobs/),
//     unlock, passphrase change, lock, the typed records core uses
//     (profile, settings, identities, contacts, sessions, messages with
//     paging by sequence and by time, outbox, attachments), expiry with
//     crypto-shredding of messages and their attachments, compaction,
//     backups, and the optional OS keychain.
//   - stream: chunked encryption of attachments at rest.
//   - keyslots: the key file of overwritable slots for crypto-shredding
//     (keys of expiring messages and of attachments).
//
// Nothing here imports Fyne; it builds with CGO_ENABLED=0.
package storage
