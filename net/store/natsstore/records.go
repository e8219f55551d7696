package natsstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ephemera-im/ephemera/net/wire"
)

// Records live one per subject, the last message on the subject being
// the value: a key-value bucket, written with
// compare-and-set on the subject's last sequence (its revision). It is not
// a nats.go KeyValue because those always allow direct gets, which any
// replica may answer from behind; every read here goes to the stream
// leader, so a node sees what another node wrote before it.

const recVersion = 1

func subjMailbox(id wire.MailboxID) string { return "eph.mb." + hexID(id[:]) + ".r" }
func subjPrekeys(id wire.MailboxID) string { return "eph.state.pk." + hexID(id[:]) }
func subjBlobRec(id wire.BlobID) string    { return "eph.state.blob." + hexID(id[:]) }
func subjKeys(id wire.MailboxID) string    { return "eph.keys." + hexID(id[:]) }
func subjChunks(id wire.BlobID) string     { return "eph.blob." + hexID(id[:]) }
func envFilter(id wire.MailboxID) string   { return "eph.mb." + hexID(id[:]) + ".e.*" }
func mbFilter(id wire.MailboxID) string    { return "eph.mb." + hexID(id[:]) + ".>" }
func subjEnv(id wire.MailboxID, seq uint64) string {
	return fmt.Sprintf("eph.mb.%s.e.%d", hexID(id[:]), seq)
}
func subjExp(minute int64) string { return fmt.Sprintf("eph.exp.%d", minute) }

// load reads a record: its value (nil when there is none or it was
// deleted) and its revision, 0 when the subject never had one. Mailbox
// records live beside their envelopes in EPH_ENV (see Append); the others
// in EPH_STATE.
func (s *Store) load(ctx context.Context, subject string) ([]byte, uint64, error) {
	stream := streamState
	if strings.HasPrefix(subject, "eph.mb.") {
		stream = streamEnv
	}
	m, err := s.get(ctx, stream, msgGetReq{LastFor: subject})
	if errors.Is(err, errNoMsg) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if len(m.Data) == 0 {
		return nil, m.Seq, nil // a tombstone
	}
	return m.Data, m.Seq, nil
}

// save writes a record if its revision is still rev; errConflict if not.
// An empty value deletes the record.
func (s *Store) save(ctx context.Context, subject string, val []byte, rev uint64) (uint64, error) {
	seq, err := s.publish(ctx, subject, nil, val, jetstream.WithExpectLastSequencePerSubject(rev))
	if isConflict(err) {
		return 0, errConflict
	}
	return seq, err
}

var errConflict = errors.New("record changed")

// mailboxRecord is a mailbox's registration and counters. The counters
// are signed: a node that deletes an envelope whose Append has not yet
// counted it takes it off first (see Append).
type mailboxRecord struct {
	Owner    wire.Key32
	Token    wire.Key32
	Created  int64
	LastSeq  uint64 // highest sequence number given out
	Messages int64
	Bytes    int64 // envelope bytes and blob sizes
}

func (m *mailboxRecord) encode() []byte {
	b := make([]byte, 0, 1+32+32+8*4)
	b = append(b, recVersion)
	b = append(b, m.Owner[:]...)
	b = append(b, m.Token[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Created))
	b = binary.BigEndian.AppendUint64(b, m.LastSeq)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Messages))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Bytes))
	return b
}

func decodeMailbox(b []byte) (mailboxRecord, error) {
	var m mailboxRecord
	if len(b) != 1+32+32+8*4 || b[0] != recVersion {
		return m, fmt.Errorf("mailbox record of %d bytes: %w", len(b), ErrCorrupt)
	}
	b = b[1:]
	copy(m.Owner[:], b)
	copy(m.Token[:], b[32:])
	b = b[64:]
	m.Created = int64(binary.BigEndian.Uint64(b))
	m.LastSeq = binary.BigEndian.Uint64(b[8:])
	m.Messages = int64(binary.BigEndian.Uint64(b[16:]))
	m.Bytes = int64(binary.BigEndian.Uint64(b[24:]))
	return m, nil
}

// prekeyRecord is a mailbox's bundle, last-resort key, and the stream
// sequences of its one-time keys in eph.keys.<mailbox>, oldest first.
type prekeyRecord struct {
	Bundle     []byte
	LastResort []byte
	Keys       []uint64
	// KeyBytes is the one-time keys' bytes, charged to the mailbox's
	// Bytes with the bundle and last-resort key. Records written before
	// it existed end after Keys and read as 0.
	KeyBytes int64
}

func (p *prekeyRecord) encode() []byte {
	b := []byte{recVersion}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Bundle)))
	b = append(b, p.Bundle...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.LastResort)))
	b = append(b, p.LastResort...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Keys)))
	for _, k := range p.Keys {
		b = binary.BigEndian.AppendUint64(b, k)
	}
	return binary.BigEndian.AppendUint64(b, uint64(p.KeyBytes))
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = ErrCorrupt
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u32() uint32 {
	v := r.take(4)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func (r *reader) u64() uint64 {
	v := r.take(8)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func decodePrekeys(b []byte) (prekeyRecord, error) {
	var p prekeyRecord
	if len(b) == 0 || b[0] != recVersion {
		return p, fmt.Errorf("prekey record: %w", ErrCorrupt)
	}
	r := &reader{b: b[1:]}
	p.Bundle = r.take(int(r.u32()))
	p.LastResort = r.take(int(r.u32()))
	n := int(r.u32())
	withBytes := r.err == nil && n*8+8 == len(r.b)
	if r.err == nil && n*8 != len(r.b) && !withBytes {
		r.err = ErrCorrupt
	}
	for range n {
		p.Keys = append(p.Keys, r.u64())
	}
	if withBytes {
		p.KeyBytes = int64(r.u64())
		if p.KeyBytes < 0 {
			r.err = ErrCorrupt
		}
	}
	if r.err != nil {
		return prekeyRecord{}, fmt.Errorf("prekey record: %w", r.err)
	}
	return p, nil
}

// chunk is a piece of a blob: a message of Len bytes at Seq in EPH_BLOB.
type chunk struct {
	Len uint32
	Seq uint64
}

type blobRecord struct {
	Owner   wire.MailboxID
	Size    int64
	Have    int64
	Expires int64
	Chunks  []chunk
}

func (r *blobRecord) encode() []byte {
	b := []byte{recVersion}
	b = append(b, r.Owner[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Have))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Chunks)))
	for _, c := range r.Chunks {
		b = binary.BigEndian.AppendUint32(b, c.Len)
		b = binary.BigEndian.AppendUint64(b, c.Seq)
	}
	return b
}

func decodeBlob(b []byte) (blobRecord, error) {
	var rec blobRecord
	if len(b) == 0 || b[0] != recVersion {
		return rec, fmt.Errorf("blob record: %w", ErrCorrupt)
	}
	r := &reader{b: b[1:]}
	copy(rec.Owner[:], r.take(32))
	rec.Size = int64(r.u64())
	rec.Have = int64(r.u64())
	rec.Expires = int64(r.u64())
	n := int(r.u32())
	if r.err == nil && n*12 != len(r.b) {
		r.err = ErrCorrupt
	}
	for range n {
		rec.Chunks = append(rec.Chunks, chunk{Len: r.u32(), Seq: r.u64()})
	}
	if r.err != nil {
		return blobRecord{}, fmt.Errorf("blob record: %w", r.err)
	}
	return rec, nil
}

// expiryEntry is one line of the expiry index, kept on the subject of its
// minute so Sweep reads only minutes that have passed.
type expiryEntry struct {
	Kind    byte // 'e' envelope, 'b' blob
	ID      [32]byte
	Seq     uint64 // envelope: per-mailbox sequence
	Stream  uint64 // envelope: stream sequence in EPH_ENV
	Size    int64  // envelope: bytes
	Expires int64
}

func (e *expiryEntry) encode() []byte {
	b := []byte{recVersion, e.Kind}
	b = append(b, e.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, e.Stream)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Expires))
	return b
}

func decodeExpiry(b []byte) (expiryEntry, error) {
	var e expiryEntry
	if len(b) != 2+32+32 || b[0] != recVersion {
		return e, fmt.Errorf("expiry entry: %w", ErrCorrupt)
	}
	e.Kind = b[1]
	copy(e.ID[:], b[2:])
	b = b[34:]
	e.Seq = binary.BigEndian.Uint64(b)
	e.Stream = binary.BigEndian.Uint64(b[8:])
	e.Size = int64(binary.BigEndian.Uint64(b[16:]))
	e.Expires = int64(binary.BigEndian.Uint64(b[24:]))
	return e, nil
}

// envRef locates an envelope in EPH_ENV.
type envRef struct {
	Seq    uint64 // per mailbox
	Stream uint64
	Size   int64
}

// envCache remembers where this node's recent envelopes are, so that the
// relay's usual Fetch (after the last one it delivered) starts where the
// previous one stopped and an Ack needs no lookup. It is only a hint:
// every entry is checked against the stream.
type envCache struct {
	mu sync.Mutex
	m  map[wire.MailboxID]map[uint64]envRef
	n  int
}

const envCacheMax = 1 << 17

func (c *envCache) init() { c.m = make(map[wire.MailboxID]map[uint64]envRef) }

func (c *envCache) put(id wire.MailboxID, r envRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= envCacheMax {
		clear(c.m) // cheap and rare: the cache only saves lookups
		c.n = 0
	}
	mm := c.m[id]
	if mm == nil {
		mm = make(map[uint64]envRef)
		c.m[id] = mm
	}
	if _, ok := mm[r.Seq]; !ok {
		c.n++
	}
	mm[r.Seq] = r
}

func (c *envCache) get(id wire.MailboxID, seq uint64) (envRef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[id][seq]
	return r, ok
}
