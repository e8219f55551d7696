// Package keyslots keeps the keys of disappearing messages (and of
// attachments) in a file of fixed-size slots that are overwritten in
// place when a key is destroyed (crypto-shredding).
//
// The vault's bbolt file copies pages on write and keeps freed pages until
// it reuses them, so a key deleted from bbolt may stay on disk for a long
// time, and whoever later learns the passphrase could read it there. A key
// kept here is instead destroyed by overwriting the one 64-byte slot that
// held it with random bytes and syncing the file before Destroy returns.
//
// # Format (version 1)
//
//	header (64 bytes) = magic "EPHKSLOT" ‖ version u16 ‖ slot size u16 (64) ‖
//	                    reserved u32 (0) ‖ salt[16] ‖ check[32]
//	slot i (64 bytes) = nonce[12] ‖ ChaCha20-Poly1305(slotKey, nonce,
//	                    state[4] ‖ key[32], ad = header[:32] ‖ u32 i)
//
// Integers are big-endian. slotKey and the check key are derived from the
// master key with HKDF-SHA-256 (salt = the file's random salt); check is
// HMAC-SHA-256(checkKey, header[:32]), so Open tells a wrong master key
// (ErrWrongMaster) from a damaged file. Slot i starts at byte 64·(i+1).
//
// Free slots are random bytes, and a slot is in use exactly when it
// authenticates, so the file reveals nothing but its own size: not which
// slots are used, and without the master key no key. The slot index is
// authenticated, so moving a slot's bytes to another index makes it fail.
// A slot that does not authenticate (destroyed, never used, or damaged) is
// free; damage to a slot therefore loses that one key and no other.
//
// # Crash safety
//
// Alloc and Destroy write one whole slot with a single WriteAt and fsync the
// file before returning (os.File.Sync: fsync, and F_FULLFSYNC on macOS,
// so the data reaches the disk rather than its cache); growth appends a
// batch of random slots and fsyncs.
// Slots are 64-byte aligned, so a slot never straddles a 512-byte sector, and
// disks in practice write a sector atomically (neither POSIX nor every
// disk promises it). Either way a crash is safe: a slot torn mid-write
// authenticates as neither old nor new content, so it reads as free. For
// Alloc that key had not been returned yet; for Destroy the key is gone,
// which is what was asked. A crash after Alloc's fsync but before the caller
// recorded the slot leaves an orphan key; Allocated lists the slots in use
// so the caller can destroy the ones it does not reference. A trailing
// partial slot (a crash while growing) is ignored and overwritten by the
// next growth.
//
// # What overwriting cannot promise
//
// Overwriting in place removes the old bytes from the file as the file
// system presents it. It does not always remove them from the device:
//
//   - Copy-on-write file systems (btrfs, ZFS, APFS) write the new slot to a
//     new block and leave the old block until it is reused; snapshots (btrfs
//     or ZFS snapshots, APFS local Time Machine snapshots) keep it for as
//     long as the snapshot exists. On btrfs, marking the profile folder
//     No_COW (chattr +C) before the file is created avoids the first problem
//     but not snapshots.
//   - SSDs and flash remap writes (wear levelling): the old page stays in the
//     flash until the drive's garbage collection erases it, out of reach of
//     the operating system but not of a forensic lab reading the chips.
//   - Journaling with data journaling (ext4 data=journal) and backups or
//     cloud sync of the profile folder hold copies too.
//
// A leftover old slot is sealed under a key derived from the master key, so
// whoever has such a copy and the passphrase can recover that message key.
// Full-disk encryption (BitLocker, FileVault, LUKS) with the machine turned
// off is what protects against that; the package cannot.
//
// # Keys in memory
//
// Keys of allocated slots are held in memory while the File is open; Close
// overwrites them and the derived keys. Go's runtime may have copied them
// (garbage collection, stacks), so wiping is best effort.
//
// One process at a time may open a key file; the vault's own file lock
// (bbolt's) serialises processes.
package keyslots
