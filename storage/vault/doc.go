// Package vault is Ephemera's encrypted store on disk: everything the
// client keeps (profile, settings, identities, contacts, sessions,
// messages, outbox) sealed in one bbolt file, unlocked by a passphrase;
// attachments in encrypted blob files; and the keys of disappearing
// messages in a key file whose slots are overwritten on expiry.
//
// # Files
//
// A vault is a directory holding vault.hdr, vault.db, vault.keys (the
// key slots, package storage/keyslots) and, once an attachment is
// stored, blobs/ (one storage/stream file per attachment).
//
// vault.hdr (header.go) is a small fixed-size file: magic, schema version,
// the Argon2id parameters and salt, a random vault id, and the 32-byte
// master key sealed with XChaCha20-Poly1305 under the Argon2id key. It is
// a file of its own rather than a bbolt bucket so that (1) the passphrase
// is checked before vault.db is opened at all: a wrong passphrase, or a
// damaged, foreign or newer header, cannot cause a write, and the files
// stay byte-identical; (2) ChangePassphrase rewrites 156 bytes, not a
// bbolt transaction, and replaces them atomically (temporary file, fsync,
// rename, fsync of the directory); (3) backup and key-chain code can
// handle the key wrapping without bbolt. vault.db holds a check record
// sealed under the master key with the header's vault id, so a vault.db
// from another vault (or a header swapped under this one) is ErrCorrupt.
// Create writes vault.db first and the header last: a directory with
// vault.db but no header is a Create that crashed, unreadable by anyone,
// and the next Create replaces it.
//
// Argon2id parameters from a header are bounded: above 1 GiB, 10 passes
// or 16 lanes is ErrCorrupt (a hostile header must not exhaust memory);
// below DefaultKDF (64 MiB, 3 passes, 1 lane) is ErrWeakKDF (no
// downgrade), unless Options.InsecureTestKDF, which tests use.
//
// # Records
//
// Every value is sealed with XChaCha20-Poly1305 under a key derived from
// the master key with HKDF-SHA-256; the associated data is the bucket
// name and the record's bbolt key, so a value moved elsewhere fails to
// open. A record's bbolt key is HMAC-SHA-256, under a second derived key,
// of (record type, logical id, sequence number), truncated to 16 bytes;
// a message record's key (schema version 3) is instead one AES-256 block
// of (type, sequence number) under a key derived from the conversation
// id by that HMAC, so reading a page costs one derivation and then one
// block per message. Either way keys reveal neither which contact or
// conversation a record belongs to, nor its position or time, and their
// order is random. (Message records written by version 2 keep their
// HMAC keys; a migrated vault looks for both.) All records share
// one bucket ("r"), so the file does not even show how many contacts
// there are; the expiry index has its own ("x"), which shows how many
// messages can expire and nothing else.
//
// A conversation has a sealed range record [Low, Next) and its messages
// under keyed (conversation, seq) keys. A page of the newest 50 is 50
// point lookups from Next-1 down, whatever the conversation's length,
// in one read transaction reusing one cursor, one AEAD and one
// plaintext buffer; Low moves up past messages deleted at the bottom so
// expired history is not walked over again.
//
// Paging by time (SeqAt, MessagesBefore) needs no index and no range
// scan: each message record carries, inside its outer seal, an order
// time, the running maximum of the conversation's message Times (kept in
// the range record), so order times never decrease with the sequence
// number and a binary search over [Low, Next) finds a time in about
// log2(n) point lookups (17 for 100,000 messages). Order is thus the
// order messages were stored in, as on screen: a message stored late
// with an older Time (a delayed delivery) stays where it arrived
// instead of moving back in the list, and pages by time treat it as of
// the time of the message before it. Contacts are listed through a sealed index record of their
// ids; the outbox is a range like a conversation's.
//
// A message record's plaintext is (slot+1, payload): slot 0 means the
// payload is the message's encoding; otherwise the payload is that
// encoding sealed again (XChaCha20-Poly1305, associated data the record
// key) under the key in that slot of vault.keys. The slot number is thus
// inside the outer sealed record, not visible in the clear.
//
// # Disappearing messages and crypto-shredding
//
// A message that can expire (Expires set, or BurnOnRead) is sealed under
// a fresh key of its own from vault.keys, whose master key is derived
// from the vault's by HKDF under its own label, and gets an expiry index
// entry (bucket "x", sealed: conversation, seq, expiry, slot). The slot
// is allocated and synced inside the message's transaction; if the
// transaction does not commit, the slot is destroyed again.
//
// ExpireDue(now), in one transaction, reads the due entries, destroys
// their slots with one keyslots.DestroyMany (each slot overwritten in
// place with random bytes, one fsync), then deletes the records, and
// returns the messages. Destroying first makes every crash safe: a record
// whose slot is gone reads as ErrNotFound and is deleted by the next
// ExpireDue or Open. Should the commit fail after the slots were
// destroyed, no new slot is allocated (AddMessage of an expiring message
// fails) until an ExpireDue succeeds, so a stale record can never come
// to name a reused slot. Message and Messages also hide a message past
// its expiry before ExpireDue has run. Burn expires a message now (the
// GUI calls it once a burn-on-read message was shown).
//
// Open, before returning, reconciles the two files (deletes records whose
// slot holds no key, and destroys keys no record names: a crash between
// Alloc and the commit) and runs ExpireDue with Options.Now, so a vault
// opened after a week offline shows nothing that was due. While
// unlocked, Options.ExpiryInterval runs ExpireDue on a timer (clock and
// ticker injectable) and reports through Options.OnExpire; Lock stops it.
//
// After ExpireDue the message keys are in no file of the profile, so the
// passphrase no longer opens the messages, even though their ciphertext
// is still in vault.db's freed pages. Compact removes that ciphertext
// too: it copies the live records into a fresh file (bbolt.Compact into
// vault.db.compact, fsync, rename over vault.db, fsync of the directory).
// It runs on request, and after every Options.CompactEvery expired
// messages when that is set; Open deletes a compaction's leftover
// temporary file. Deleted non-expiring records, and the keys of deleted
// attachments, likewise stay in freed pages until Compact.
//
// What this cannot guarantee is what the keyslots package doc ("What
// overwriting cannot promise") says about slot overwriting, and more so
// for compaction, which writes a new file and unlinks the old one rather
// than overwriting it: on SSDs and flash, and on copy-on-write file
// systems (btrfs, ZFS, APFS) and their snapshots, the old blocks of
// vault.db and of overwritten slots stay on the device until reused or
// erased, and backups or cloud sync of the folder keep copies. Such an
// old slot or old vault.db is readable with the passphrase. Full-disk
// encryption with the machine off is the protection against that.
//
// # Attachments
//
// PutAttachment encrypts a stream into blobs/<random 128-bit id> with
// storage/stream (64 KiB chunks, last chunk marked) under a fresh key
// kept, like an expiring message's, in a slot of vault.keys; the
// attachment's sealed record names the slot and the message that owns
// it. The blob is written to a temporary file, synced and renamed before
// the record commits. OpenAttachment returns a reader (Read, Seek,
// ReadAt) that authenticates every chunk it touches without loading the
// file.
//
// A message lists its attachments (Message.Attachments) and AddMessage
// makes it their one owner. DeleteAttachment, and the deletion or expiry
// of the owning message, delete the record and, once that committed,
// overwrite the key's slot and remove the blob: afterwards the key is in
// no file of the profile, before any compaction. (Destroying after the
// commit, rather than before as for message keys, keeps a failed commit
// from leaving records that name a freed slot.)
//
// Open goes through the blob folder: it removes temporary files of
// interrupted writes and blobs without a record (a crash before
// PutAttachment's commit), deletes attachments whose slot is gone or
// whose owning message is gone or unreadable (a crash in the middle of
// an expiry), and destroys slots no record names.
//
// # Backup and moving to a new machine
//
// Export writes the whole profile as one file under a backup passphrase
// of its own (format in backup.go): a clear header (magic, version,
// Argon2id parameters and salt, a passphrase check, a checksum), then a
// storage/stream body holding a small archive of length-prefixed named
// entries: vault.hdr, a snapshot of vault.db (bbolt's Tx.WriteTo), the
// key file, and the blob of every attachment with a key record. Other
// calls wait while Export runs, so the four are consistent. The file
// reveals its size and nothing else; inside, the vault's own header
// still wraps the master key, so the imported vault opens with the
// vault's passphrase.
//
// Import restores into an empty (or absent) folder: the backup
// passphrase is checked before anything is written (ErrWrongPassphrase);
// entry names are a fixed list plus blobs/<attachment id> (no path can
// leave the folder) and sizes are bounded; entries go to a temporary
// folder inside the target, fsynced, and are renamed into place, header
// last, only once the whole stream authenticated. A damaged, truncated
// or extended backup is ErrCorrupt and leaves nothing behind. Messages
// keep their expiry: the first Open of the imported vault expires what
// fell due since the export and overwrites those key slots. A backup
// file, like any copy, keeps the keys of messages that expire after it
// was made: it is only as ephemeral as its own storage.
//
// # Schema versions
//
// vault.hdr and vault.db (a clear data version in the meta bucket) both
// record the schema version. On Open an older vault is migrated
// (migrate.go): every step from its data version runs in one bbolt
// transaction together with the new data version, then the header is
// rewritten (rewrapped, since the version is part of the wrapped key's
// associated data). A crash in between leaves the data ahead of the
// header, which the next Open finishes without migrating again. A newer
// header or data version is ErrNewerVersion. SchemaVersion is 3
// (header.go lists what each version changed). Version 2 is migrated:
// attachment keys move from their records into key slots (found through
// the blob folder, since record keys cannot be listed), then vault.db is
// compacted so the old records leave the file; version 2 message
// records and ranges, which lack order times and have HMAC keys, are
// read as they are. The message records and expiry entries of version 1
// changed during development without a bump, so a version 1 vault,
// which no release wrote, is refused with ErrOldVersion rather than
// misread.
//
// # Keychain
//
// Off by default. With Options.Keychain (an interface; OSKeychain is the
// operating system's store through github.com/zalando/go-keyring, tests
// use an in-memory fake), Create and every passphrase Open store a copy
// of the master key under the vault's random id, and OpenWithKeychain
// unlocks with it. Any trouble with the store or the entry is
// ErrKeychain and changes nothing; the passphrase path always works,
// and a schema migration needs it (it rewraps the header).
// ForgetKeychain deletes the entry.
//
// # Concurrency and crash safety
//
// A Vault is safe for concurrent use. Each method is one transaction;
// Update runs several changes (a ratchet step and its outbox entry) as
// one. bbolt fsyncs every commit (unless Options.NoSync, for tests) and
// the header is replaced atomically, so a process killed at any moment
// leaves a vault that opens with every write that returned
// (TestCrash SIGKILLs a writer twelve times). Lock wipes the key slices
// and closes vault.db; later calls return ErrLocked. AEAD, HMAC and AES
// states live for one transaction and are left to the garbage collector.
//
// # Performance
//
// docs/PERFORMANCE.md has the figures and how they were taken. In short,
// on the shared 2-core dev machine, against plain bbolt doing the same
// work in the same loop (BenchmarkNewest50Ratio, BenchmarkStore10kRatio):
// storing 10,000 messages costs 1.1-1.7x plain (target 2x); reading the
// newest 50 of 100,000 costs 51-57 us a page, 5.9-6.0x plain's fastest
// page (3.1-4.3x on average; target 2x, missed). What is left of a page
// is one B-tree descent to a random key (46%) and one XChaCha20-Poly1305
// open (24%) per message, the price of hidden keys and per-record seals;
// only sealing messages together in pages could remove it. Unlock is
// Argon2id by design.
package vault
