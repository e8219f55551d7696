// Package store defines what an Ephemera relay keeps and the contract every
// storage engine must honour. The relay holds only ciphertext: mailboxes
// (an owner key and an optional send-token hash), envelopes queued in them,
// prekeys, and attachment blobs.
//
// Implementations: boltstore (one machine, the default) and memstore (an
// in-memory fake for fast tests). storetest is the contract suite that any
// implementation must pass unchanged.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ephemera-im/ephemera/net/wire"
)

// Errors returned by every Store; test with errors.Is.
var (
	ErrNotFound  = errors.New("store: not found")
	ErrConflict  = errors.New("store: conflict") // mailbox owned by another key; blob write at the wrong offset
	ErrQuota     = errors.New("store: quota exceeded")
	ErrTooLarge  = errors.New("store: too large") // blob write past its size
	ErrNoPrekeys = errors.New("store: no prekeys")
	ErrClosed    = errors.New("store: closed")
	// ErrFull: the store keeps its last space for deletions and refuses
	// writes that add data. Deletes, claims and sweeps still work.
	ErrFull = errors.New("store: full")
)

// Mailbox is a mailbox's registration.
type Mailbox struct {
	OwnerKey      wire.Key32 // Ed25519 public key that may read it
	SendTokenHash wire.Key32 // zero: anyone may send
	Created       time.Time
}

// Envelope is an envelope as stored.
type Envelope struct {
	Seq      uint64    // per mailbox, increasing, starting at 1, never reused
	Received time.Time // when stored
	Expires  time.Time // zero: never expires; expired once now >= Expires
	Data     []byte
}

// Usage is what a mailbox holds now.
type Usage struct {
	Messages int
	// Bytes is every byte the mailbox makes the relay keep: envelope
	// bytes, blob sizes and prekey bytes (bundle, last-resort and
	// one-time keys). One quota bounds them all, so no kind of upload
	// can fill the disk past it.
	Bytes int64
}

// Quota bounds a mailbox. Zero fields mean no limit.
type Quota struct {
	MaxMessages int
	MaxBytes    int64
}

// Prekey is what a claim returns.
type Prekey struct {
	Bundle     []byte
	Key        []byte
	LastResort bool
}

// Blob describes an attachment blob. Its Size is charged to Owner's
// Usage.Bytes from CreateBlob until Sweep deletes it.
type Blob struct {
	Owner   wire.MailboxID
	Size    int64
	Have    int64     // bytes written so far; the blob is complete when Have == Size
	Expires time.Time // zero: never expires; expired once now >= Expires
}

// MaxOneTimePrekeys bounds the one-time prekeys a mailbox may hold;
// PutPrekeys beyond it fails with ErrQuota and stores nothing.
const MaxOneTimePrekeys = 10 * wire.MaxPrekeyCount

// PrekeyBytes is what an upload of prekeys adds to a mailbox's
// Usage.Bytes before what it replaces is taken off.
func PrekeyBytes(bundle, lastResort []byte, oneTime [][]byte) int64 {
	n := int64(len(bundle) + len(lastResort))
	for _, k := range oneTime {
		n += int64(len(k))
	}
	return n
}

// CheckPrekeys reports ErrTooLarge if any key is longer than
// wire.MaxPrekeySize or there are more than MaxOneTimePrekeys one-time keys.
// Stores call it so that nothing is kept that a relay could not send back.
func CheckPrekeys(bundle, lastResort []byte, oneTime [][]byte) error {
	if len(bundle) > wire.MaxPrekeySize {
		return fmt.Errorf("bundle is %d bytes, limit %d: %w", len(bundle), wire.MaxPrekeySize, ErrTooLarge)
	}
	if len(lastResort) > wire.MaxPrekeySize {
		return fmt.Errorf("last-resort key is %d bytes, limit %d: %w", len(lastResort), wire.MaxPrekeySize, ErrTooLarge)
	}
	if len(oneTime) > MaxOneTimePrekeys {
		return fmt.Errorf("%d one-time keys, limit %d: %w", len(oneTime), MaxOneTimePrekeys, ErrTooLarge)
	}
	for i, k := range oneTime {
		if len(k) > wire.MaxPrekeySize {
			return fmt.Errorf("one-time key %d is %d bytes, limit %d: %w", i, len(k), wire.MaxPrekeySize, ErrTooLarge)
		}
	}
	return nil
}

// Store is the relay's durable state. All methods are safe for concurrent
// use. A method that returns nil has made its change durable (fsynced)
// before returning; one that returns an error has changed nothing.
// Expired envelopes and blobs are never returned, even before Sweep
// deletes them; they keep counting in Usage until Sweep does.
//
// Methods taking a mailbox id return ErrNotFound for an unregistered
// mailbox. Every method returns ErrClosed after Close.
type Store interface {
	// RelayID returns the relay's identity, made once and kept.
	RelayID(ctx context.Context) (wire.Key32, error)

	// Register creates a mailbox, or updates SendTokenHash of one with the
	// same OwnerKey. A mailbox owned by another key gives ErrConflict.
	Register(ctx context.Context, id wire.MailboxID, m Mailbox) error
	// Mailbox returns a registration or ErrNotFound.
	Mailbox(ctx context.Context, id wire.MailboxID) (Mailbox, error)

	// Append stores an envelope in a registered mailbox and returns its
	// sequence number. Fields Seq and Received of env are ignored; Received
	// is the store's clock. ErrQuota when q would be exceeded (the check is
	// atomic with the append); ErrTooLarge above wire.MaxEnvelopeSize.
	Append(ctx context.Context, id wire.MailboxID, env Envelope, q Quota) (uint64, error)
	// Fetch returns up to limit unexpired envelopes with Seq > after, in
	// order of Seq; limit <= 0 means no limit.
	Fetch(ctx context.Context, id wire.MailboxID, after uint64, limit int) ([]Envelope, error)
	// Delete removes envelopes by sequence number; unknown ones are ignored.
	// It returns how many were removed.
	Delete(ctx context.Context, id wire.MailboxID, seqs []uint64) (int, error)
	// Usage returns what a mailbox holds now.
	Usage(ctx context.Context, id wire.MailboxID) (Usage, error)

	// PutPrekeys stores prekeys of a registered mailbox: bundle and
	// lastResort replace the stored ones when non-empty, oneTime keys are
	// appended (or replace the stored ones when replace is set). It returns
	// the number of one-time keys now held. The bytes stored are charged to
	// the mailbox's Usage.Bytes, and what they replace released: ErrQuota
	// when that would grow Usage.Bytes past q.MaxBytes (q.MaxMessages is
	// not checked), and nothing is stored.
	PutPrekeys(ctx context.Context, id wire.MailboxID, bundle, lastResort []byte, oneTime [][]byte, replace bool, q Quota) (int, error)
	// ClaimPrekey returns the bundle with one one-time key, removed
	// atomically so no key is ever handed out twice, or with the last-resort
	// key when none are left. ErrNoPrekeys when no bundle was stored. With
	// a bundle but neither kind of key, Key is nil and LastResort false.
	// A one-time key's bytes are released from Usage.Bytes.
	ClaimPrekey(ctx context.Context, id wire.MailboxID) (Prekey, error)

	// CreateBlob reserves a blob charged to owner's quota: ErrNotFound for
	// an unregistered owner, ErrConflict if id exists, ErrQuota when
	// b.Size would pass q.MaxBytes (q.MaxMessages is not checked). b.Have
	// is ignored.
	CreateBlob(ctx context.Context, id wire.BlobID, b Blob, q Quota) error
	// WriteBlob appends data at offset, which must equal the blob's Have
	// (ErrConflict otherwise; ErrTooLarge past Size). It returns the new Have.
	WriteBlob(ctx context.Context, id wire.BlobID, offset int64, data []byte) (int64, error)
	// BlobInfo returns a blob's description or ErrNotFound.
	BlobInfo(ctx context.Context, id wire.BlobID) (Blob, error)
	// ReadBlob reads from a blob at offset into p, like io.ReaderAt, and
	// only bytes below Have: io.EOF when it reads fewer than len(p).
	ReadBlob(ctx context.Context, id wire.BlobID, offset int64, p []byte) (int, error)

	// Sweep deletes envelopes and blobs that expired at or before now and
	// returns how many envelopes it deleted. Their bytes, and the sizes of
	// the blobs, are released from the owners' Usage.
	Sweep(ctx context.Context, now time.Time) (int, error)
	// Check reports whether the store can take writes now: an error
	// (ErrFull among others) when it would refuse new envelopes.
	Check(ctx context.Context) error
	// Close releases the store; later calls return ErrClosed.
	Close() error
}
