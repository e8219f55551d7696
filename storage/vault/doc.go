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
// from another vault (or a header swapped under this one) is ErrDamaged.
// Create marks the folder (vault.creating), writes vault.db and
// vault.keys, then the header, then removes the mark: files without a
// header under the mark are a Create that crashed, unreadable by anyone,
// and the next Create replaces them; without the mark they are a vault
// that lost its header, and Create refuses to touch them (ErrExists).
//
// # Damaged or missing files
//
// The vault is made whole only by Create. A missing, truncated,
// overwritten or foreign vault.db or vault.keys is ErrDamaged (which
// also matches ErrCorrupt), with an error naming the file, and Open
// changes no file: restoring the file restores everything. vault.keys
// is never recreated by Open; vault.db records how many slots the key
// file had (so a cut-off end is seen even where it held no key), and a
// record naming a key the file lacks (other than a due message's, which
// a crash inside ExpireDue leaves) means the file is not the one
// vault.db was written with. vault.db is checked page by page before
// bbolt opens it (internal/boltcheck). A damaged blob is its attachment's
// error alone (OpenAttachment), and a missing blob stops Open from
// destroying any "orphan" key slot, so restoring the blob restores the
// attachment. The one destructive repair is DiscardLostKeys, which the
// user asks for explicitly: it deletes the messages and attachments
// whose keys are lost and makes a new key file if there is none.
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
// a page of messages (below) is instead keyed by one AES-256 block of
// (type, page number) under a key derived from the conversation id by
// that HMAC. Either way keys reveal neither which contact or
// conversation a record belongs to, nor its position or time, and their
// order is random. All records share one bucket ("r"), so the file does
// not even show how many contacts there are; the expiry index has its
// own ("x"), which shows how many messages can expire and nothing else.
//
// # Changing the passphrase, and re-keying
//
// ChangePassphrase rewraps the master key: quick, but whoever kept an
// old vault.hdr (or a backup) and learns the old passphrase still has
// the master key of the vault as it is now. Rekey (rekey.go) makes a new
// master key and rewrites everything under it: every record sealed again
// under the new sealing key into a fresh vault.db, every key slot sealed
// again into a new vault.keys (each key in its slot), the header wrapped
// under the new passphrase. Record keys cannot be recomputed from their
// ids (which are not stored), so a re-keyed vault keeps the record-id
// key it was created with and puts every 16-byte record key through an
// AES-256 permutation under a random outer key: bbolt key =
// AES(outer, HMAC-derived key). The id key and the outer key are kept in
// the meta bucket under the clear key "rekeyed", sealed (32 + 32 bytes)
// under the current sealing key; a later Rekey decrypts each bbolt key
// with the old outer key and encrypts it with a new one. The old master
// key thus neither opens a record nor finds one. Keys of expiring
// messages and attachments, random and only ever stored in vault.keys,
// are not replaced, and blobs are not rewritten. A vault re-keyed by this
// version is refused by older ones as not matching its header (they do
// not know the permutation); nothing is written then. The new files are
// built in rekey.tmp/, whose header arrives last; Open finishes a re-key
// found complete there, or removes an incomplete one, before reading the
// header, so a crash leaves the old vault or the new one.
//
// # Messages in pages
//
// A conversation has a sealed range record [Low, Next) and its messages
// in pages (page.go, schema version 4): page n holds messages
// 16n+1 .. 16n+16 and is one sealed record, bound like any other to its
// bbolt key, which hides the conversation and n. The number of page
// records shows roughly how many messages the vault holds in all
// (its size shows that too), not how they divide into conversations.
// Reading the newest 50 is the range record and four or five pages: a
// lookup and an AEAD open each, instead of one of each per message,
// which were 70% of a page's cost (docs/PERFORMANCE.md).
// Storing a message re-seals its page in the same transaction (read,
// add the entry, seal, put); deleting, expiring or updating one
// re-seals its page without it or with its new contents, and a page
// left empty is deleted. Low moves up past messages deleted at the
// bottom, a whole page at a time where one is gone, so expired history
// is not walked over again.
//
// What pages show that single records did not: bbolt keeps the pages it
// frees until they are reused, and its leaves hold keys in the clear, so
// until Compact someone with the file but without the passphrase can see
// one bbolt key come back with longer and longer values. That links the
// messages appended to one page since the last compaction (up to 16,
// consecutive, of one conversation, though not which one) and gives the
// size of each; message records under unrelated keys showed only that
// records of some sizes were added. The live file shows the sizes of
// pages, not of messages. Compact (on request, and every
// Options.CompactEvery expiries) removes the history.
//
// A page's plaintext lists its entries, one per sequence number up to
// its last message: absent (never stored, deleted or expired); in the
// clear; or sealed under a key slot (below). Each present entry has the
// message's order time and a compact encoding of the message without
// its conversation and sequence number, which the page gives
// (appendMessage: flags, then only the fields that are set, varint
// lengths). A page of short messages is thus about 20 bytes a message,
// which matters because a read decrypts whole pages.
//
// Paging by time (SeqAt, MessagesBefore) needs no index and no range
// scan: each entry carries, outside the message's own seal, an order
// time, the running maximum of the conversation's message Times (kept in
// the range record), so order times never decrease with the sequence
// number and a binary search over [Low, Next) finds a time in about
// log2(n) steps (17 for 100,000 messages, in about 13 pages). Order is
// thus the order messages were stored in, as on screen: a message stored
// late with an older Time (a delayed delivery) stays where it arrived
// instead of moving back in the list, and pages by time treat it as of
// the time of the message before it. Contacts are listed through a
// sealed index record of their ids; the outbox is a range like a
// conversation's, one record per entry.
//
// An entry sealed under a key slot holds nonce || ciphertext of the
// message's encoding under the key in that slot of vault.keys
// (XChaCha20-Poly1305, associated data the sequence number and the
// conversation), inside the page's own seal. The slot number is thus
// inside the sealed page, not visible in the clear.
//
// # Disappearing messages and crypto-shredding
//
// A message that can expire (Expires set, or BurnOnRead) is sealed under
// a fresh key of its own from vault.keys, whose master key is derived
// from the vault's by HKDF under its own label, and gets an expiry index
// entry (bucket "x", sealed: conversation, seq, expiry, slot). The slot
// is allocated and synced inside the message's transaction; if the
// transaction does not commit, the slot is destroyed again. Sharing a
// page with other messages changes nothing here: every copy of the page
// that ever held the message, in vault.db or in its freed pages, holds
// it only under its own key, so once the slot is overwritten none of
// them yields it, to anyone, passphrase or not. What such an old copy
// does still show, to someone with the passphrase and until Compact, is
// what the page shows outside the inner seal: that a message with that
// sequence number existed, its order time, key slot number and length
// (as version 3's message records did).
//
// ExpireDue(now), in one transaction, reads the due entries, destroys
// their slots with one keyslots.DestroyMany (each slot overwritten in
// place with random bytes, one fsync), then removes the messages from
// their pages, and returns the messages. Destroying first makes every
// crash safe: an entry whose slot is gone reads as ErrNotFound and is
// removed by the next ExpireDue or Open. Should the commit fail after
// the slots were destroyed, no new slot is allocated (AddMessage of an
// expiring message fails) until an ExpireDue succeeds, so a stale entry
// can never come to name a reused slot. Message and Messages also hide a message past
// its expiry before ExpireDue has run. Burn expires a message now (the
// GUI calls it once a burn-on-read message was shown).
//
// Open, before returning, reconciles the two files (removes due messages
// whose slot holds no key, and destroys keys no record names: a crash between
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
// PutAttachment's commit), deletes attachments whose owning message is
// gone (a crash in the middle of an expiry), and destroys slots no
// record names, unless a blob is missing (vault.db counts attachment
// records, whose keys are keyed hashes and cannot be listed).
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
// header or data version is ErrNewerVersion. SchemaVersion is 4
// (header.go lists what each version changed). Version 3 is migrated
// (messagesToPages): since record keys cannot be listed, every record is
// opened, a message record is recognised by its conversation and
// sequence number giving back its bbolt key, and the messages move into
// pages, those that can expire sealed again under their own keys; a
// record whose key was already destroyed, found through the expiry
// index, is deleted. Version 2 is migrated to 3 first, in the same
// transaction: attachment keys move from their records into key slots
// (found through the blob folder), and its message records, under HMAC
// keys and without order times, go to pages as above, their order times
// the running maximum of their Times. After either, vault.db is
// compacted so the old records leave the file. The message records and expiry entries of version 1
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
// storing 10,000 messages costs 1.27-1.41x plain (target 2x); reading
// the newest 50 of 100,000 costs 16-24 us a page, 1.55-1.72x plain's
// fastest page (1.2-1.4x on average; target 2x). Pages made the
// difference: a page of 50 was 50 B-tree descents to random keys and 50
// AEAD opens (70% of it), now four or five of each over compactly
// encoded messages. Unlock is Argon2id by design.
package vault
