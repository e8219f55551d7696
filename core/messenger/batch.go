package messenger

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/ephemera-im/ephemera/core/envelope"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// Ratchet messages encrypted in one transaction for the same contact
// travel in one sealed envelope: sealing (an ML-KEM encapsulation and an
// X25519 exchange) and opening cost far more than the ratchet itself, and
// a burst of messages then costs the relay one stored envelope. The
// envelope's payload is then
//
//	0xEB 'B' ‖ u16 count ‖ count × (u32 length ‖ ratchet message)
//
// A lone message is sent bare. Ratchet messages start with their version
// byte (1), so the two cannot be confused.
const (
	batchMagic0, batchMagic1 = 0xEB, 'B'
	// maxBatchPayload bounds one envelope's payload; larger bursts go in
	// several envelopes.
	maxBatchPayload = 1 << 20
	maxBatchCount   = 1024
)

// outBatch collects what one transaction sends to one contact.
type outBatch struct {
	c     *contactRec
	cts   [][]byte
	ids   []string
	ttl   time.Duration
	noTTL bool // some message does not expire: the relay's default TTL
}

// addOut queues a ratchet message for c, sealed when the transaction's
// writes are done (flushOut). mid is the conversation entry it delivers,
// if any.
func (m *Messenger) addOut(c *contactRec, ct []byte, mid string, exp message.Expiry) {
	b := m.out[c.ID]
	if b == nil {
		b = &outBatch{}
		m.out[c.ID] = b
		m.outOrder = append(m.outOrder, c.ID)
	}
	b.c = c // the latest record names the mailbox to use
	b.cts = append(b.cts, ct)
	if mid != "" {
		b.ids = append(b.ids, mid)
	}
	if exp.Timer > 0 && !exp.BurnOnRead {
		b.ttl = max(b.ttl, time.Duration(exp.Timer)*time.Second)
	} else {
		b.noTTL = true
	}
}

// flushOut seals what the transaction queued into envelopes, puts them in
// the outbox and writes the sessions it advanced. It runs at the end of
// every transaction made with m.update.
func (m *Messenger) flushOut(t *vault.Tx) error {
	for _, id := range m.outOrder {
		b := m.out[id]
		ttl := b.ttl
		if b.noTTL {
			ttl = 0
		}
		for start := 0; start < len(b.cts); {
			end, size := start, 4
			for end < len(b.cts) && end-start < maxBatchCount && (end == start || size+4+len(b.cts[end]) <= maxBatchPayload) {
				size += 4 + len(b.cts[end])
				end++
			}
			payload := b.cts[start]
			if end-start > 1 {
				payload = packBatch(b.cts[start:end])
			}
			pk, err := m.envelopeKey(b.c)
			if err != nil {
				return err
			}
			env, err := envelope.Seal(pk, payload)
			if err != nil {
				return err
			}
			rec := outboxRec{Relay: b.c.Theirs.Relay, Mailbox: b.c.Theirs.ID, Token: b.c.Theirs.Token,
				TTL: ttl, Envelope: env, Created: m.now().UTC()}
			if start == 0 {
				rec.MessageIDs = b.ids // marked sent with the first envelope
			}
			if _, err := t.PutOutbox(vault.OutboxEntry{Contact: id, Data: rec.encode()}); err != nil {
				return err
			}
			start = end
		}
	}
	for id, s := range m.dirty {
		if err := m.writeSession(t, id, s); err != nil {
			return err
		}
	}
	return nil
}

func packBatch(cts [][]byte) []byte {
	n := 4
	for _, ct := range cts {
		n += 4 + len(ct)
	}
	b := make([]byte, 0, n)
	b = append(b, batchMagic0, batchMagic1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(cts)))
	for _, ct := range cts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(ct)))
		b = append(b, ct...)
	}
	return b
}

var errBadBatch = errors.New("messenger: malformed batch")

// splitBatch returns the ratchet messages of an envelope's payload.
func splitBatch(p []byte) ([][]byte, error) {
	if len(p) < 2 || p[0] != batchMagic0 || p[1] != batchMagic1 {
		return [][]byte{p}, nil
	}
	if len(p) < 4 {
		return nil, errBadBatch
	}
	n := int(binary.BigEndian.Uint16(p[2:]))
	if n == 0 || n > maxBatchCount {
		return nil, errBadBatch
	}
	p = p[4:]
	out := make([][]byte, 0, n)
	for range n {
		if len(p) < 4 {
			return nil, errBadBatch
		}
		l := binary.BigEndian.Uint32(p)
		if uint64(l) > uint64(len(p)-4) || l == 0 {
			return nil, errBadBatch
		}
		out = append(out, p[4:4+l])
		p = p[4+l:]
	}
	if len(p) != 0 {
		return nil, errBadBatch
	}
	return out, nil
}
