package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// ErrCorrupt is wrapped by errors about records on disk that cannot be
// decoded. Decoders check every length and range before use, so a corrupt
// file gives this error, never a panic or a huge allocation.
var ErrCorrupt = errors.New("boltstore: corrupt record")

func corrupt(what string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, what, fmt.Sprintf(format, args...))
}

// recordVersion is the first byte of every record value, so the format
// can change without guessing.
const recordVersion = 1

// Times are kept as int64 Unix nanoseconds; 0 is the zero time. Other
// times are clamped to [1ns after the epoch, year 2262], far wider than
// any clock or TTL a relay uses.
func timeToNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case !t.After(time.Unix(0, 0)):
		return 1
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func nanosToTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// mailboxRecord is the value under a mailbox id in bucketMailboxes: the
// registration plus the counters that must change in the same transaction
// as the envelopes and keys they count.
type mailboxRecord struct {
	Owner     wire.Key32
	TokenHash wire.Key32
	Created   int64  // unix nanoseconds
	LastSeq   uint64 // last envelope sequence number handed out; never goes down
	Messages  uint64 // envelopes held
	Bytes     uint64 // envelope bytes, sizes of blobs and prekey bytes held (format 2 on)
	NextOTK   uint64 // key suffix of the next one-time prekey stored
	OTKs      uint64 // one-time prekeys held
}

const mailboxRecordSize = 1 + 32 + 32 + 8*6

func (m *mailboxRecord) encode() []byte {
	b := make([]byte, 0, mailboxRecordSize)
	b = append(b, recordVersion)
	b = append(b, m.Owner[:]...)
	b = append(b, m.TokenHash[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Created))
	b = binary.BigEndian.AppendUint64(b, m.LastSeq)
	b = binary.BigEndian.AppendUint64(b, m.Messages)
	b = binary.BigEndian.AppendUint64(b, m.Bytes)
	b = binary.BigEndian.AppendUint64(b, m.NextOTK)
	b = binary.BigEndian.AppendUint64(b, m.OTKs)
	return b
}

func decodeMailbox(b []byte) (mailboxRecord, error) {
	const what = "mailbox"
	var m mailboxRecord
	if len(b) != mailboxRecordSize {
		return m, corrupt(what, "%d bytes, want %d", len(b), mailboxRecordSize)
	}
	if b[0] != recordVersion {
		return m, corrupt(what, "version %d", b[0])
	}
	b = b[1:]
	copy(m.Owner[:], b[:32])
	copy(m.TokenHash[:], b[32:64])
	b = b[64:]
	u := func() uint64 { v := binary.BigEndian.Uint64(b); b = b[8:]; return v }
	m.Created = int64(u())
	m.LastSeq, m.Messages, m.Bytes, m.NextOTK, m.OTKs = u(), u(), u(), u(), u()
	switch {
	case m.Messages > m.LastSeq:
		return m, corrupt(what, "%d messages held, only %d ever stored", m.Messages, m.LastSeq)
	case m.Bytes > math.MaxInt64:
		return m, corrupt(what, "%d bytes held", m.Bytes)
	case m.OTKs > store.MaxOneTimePrekeys || m.OTKs > m.NextOTK:
		return m, corrupt(what, "%d one-time keys held, %d ever stored", m.OTKs, m.NextOTK)
	}
	return m, nil
}

func (m *mailboxRecord) usage() store.Usage {
	return store.Usage{Messages: int(m.Messages), Bytes: int64(m.Bytes)}
}

func (m *mailboxRecord) mailbox() store.Mailbox {
	return store.Mailbox{OwnerKey: m.Owner, SendTokenHash: m.TokenHash, Created: nanosToTime(m.Created)}
}

// envelopeRecord is the value under mailbox||seq in bucketEnvelopes.
type envelopeRecord struct {
	Received int64 // unix nanoseconds
	Expires  int64 // unix nanoseconds; 0: never
	Data     []byte
}

const envelopeHeaderSize = 1 + 8 + 8

func (e *envelopeRecord) encode() []byte {
	b := make([]byte, 0, envelopeHeaderSize+len(e.Data))
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Received))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Expires))
	return append(b, e.Data...)
}

// decodeEnvelope decodes b; Data aliases b.
func decodeEnvelope(b []byte) (envelopeRecord, error) {
	const what = "envelope"
	var e envelopeRecord
	if len(b) < envelopeHeaderSize {
		return e, corrupt(what, "%d bytes, shorter than the %d-byte header", len(b), envelopeHeaderSize)
	}
	if b[0] != recordVersion {
		return e, corrupt(what, "version %d", b[0])
	}
	if n := len(b) - envelopeHeaderSize; n > wire.MaxEnvelopeSize {
		return e, corrupt(what, "%d bytes of data, limit %d", n, wire.MaxEnvelopeSize)
	}
	e.Received = int64(binary.BigEndian.Uint64(b[1:]))
	e.Expires = int64(binary.BigEndian.Uint64(b[9:]))
	e.Data = b[envelopeHeaderSize:]
	return e, nil
}

// blobRecord is the value under a blob id in bucketBlobs.
type blobRecord struct {
	Owner   wire.MailboxID
	Size    int64
	Have    int64 // bytes fsynced to the blob's file
	Expires int64 // unix nanoseconds; 0: never
}

const blobRecordSize = 1 + 32 + 8*3

func (r *blobRecord) encode() []byte {
	b := make([]byte, 0, blobRecordSize)
	b = append(b, recordVersion)
	b = append(b, r.Owner[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Have))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires))
	return b
}

func decodeBlob(b []byte) (blobRecord, error) {
	const what = "blob"
	var r blobRecord
	if len(b) != blobRecordSize {
		return r, corrupt(what, "%d bytes, want %d", len(b), blobRecordSize)
	}
	if b[0] != recordVersion {
		return r, corrupt(what, "version %d", b[0])
	}
	copy(r.Owner[:], b[1:33])
	r.Size = int64(binary.BigEndian.Uint64(b[33:]))
	r.Have = int64(binary.BigEndian.Uint64(b[41:]))
	r.Expires = int64(binary.BigEndian.Uint64(b[49:]))
	if r.Size < 0 || r.Have < 0 || r.Have > r.Size {
		return r, corrupt(what, "have %d of size %d", r.Have, r.Size)
	}
	return r, nil
}

func (r *blobRecord) blob() store.Blob {
	return store.Blob{Owner: r.Owner, Size: r.Size, Have: r.Have, Expires: nanosToTime(r.Expires)}
}

// decodePrekey checks a stored prekey's size.
func decodePrekey(what string, b []byte) ([]byte, error) {
	if len(b) > wire.MaxPrekeySize {
		return nil, corrupt(what, "%d bytes, limit %d", len(b), wire.MaxPrekeySize)
	}
	return b, nil
}

// Keys.
//
//	envelopes:  mailbox(32) seq(8)
//	prekeys:    mailbox(32) 'B'           bundle
//	            mailbox(32) 'L'           last-resort key
//	            mailbox(32) 'O' n(8)      one-time key, oldest first
//	expiry:     expires(8) 'e' mailbox(32) seq(8)
//	            expires(8) 'b' blob(32)
//
// Integers are big-endian so that byte order is numeric order: Fetch and
// Sweep are cursor scans from a Seek.

func envKey(id wire.MailboxID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 40), id[:]...), seq)
}

const (
	prekeyBundle     = 'B'
	prekeyLastResort = 'L'
	prekeyOneTime    = 'O'
)

func prekeyKey(id wire.MailboxID, kind byte) []byte {
	return append(append(make([]byte, 0, 41), id[:]...), kind)
}

func oneTimeKey(id wire.MailboxID, n uint64) []byte {
	return binary.BigEndian.AppendUint64(prekeyKey(id, prekeyOneTime), n)
}

const (
	expiryEnvelope = 'e'
	expiryBlob     = 'b'

	expiryEnvelopeKeySize = 8 + 1 + 32 + 8
	expiryBlobKeySize     = 8 + 1 + 32
)

func expiryEnvKey(expires int64, id wire.MailboxID, seq uint64) []byte {
	b := make([]byte, 0, expiryEnvelopeKeySize)
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	b = append(b, expiryEnvelope)
	b = append(b, id[:]...)
	return binary.BigEndian.AppendUint64(b, seq)
}

func expiryBlobKey(expires int64, id wire.BlobID) []byte {
	b := make([]byte, 0, expiryBlobKeySize)
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	b = append(b, expiryBlob)
	return append(b, id[:]...)
}

// expiryEntry is a decoded expiry index key.
type expiryEntry struct {
	Expires int64
	Kind    byte
	Mailbox wire.MailboxID // Kind 'e'
	Seq     uint64         // Kind 'e'
	Blob    wire.BlobID    // Kind 'b'
}

func decodeExpiryKey(k []byte) (expiryEntry, error) {
	const what = "expiry index key"
	var e expiryEntry
	if len(k) < 9 {
		return e, corrupt(what, "%d bytes", len(k))
	}
	e.Expires = int64(binary.BigEndian.Uint64(k))
	if e.Expires <= 0 {
		return e, corrupt(what, "expires at %d", e.Expires)
	}
	e.Kind = k[8]
	switch {
	case e.Kind == expiryEnvelope && len(k) == expiryEnvelopeKeySize:
		copy(e.Mailbox[:], k[9:41])
		e.Seq = binary.BigEndian.Uint64(k[41:])
	case e.Kind == expiryBlob && len(k) == expiryBlobKeySize:
		copy(e.Blob[:], k[9:])
	default:
		return e, corrupt(what, "kind %q with %d bytes", e.Kind, len(k))
	}
	return e, nil
}

func (e *expiryEntry) key() []byte {
	if e.Kind == expiryBlob {
		return expiryBlobKey(e.Expires, e.Blob)
	}
	return expiryEnvKey(e.Expires, e.Mailbox, e.Seq)
}
