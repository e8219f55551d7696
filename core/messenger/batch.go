package messenger

import (
	"encoding/binary"
	"errors"
	"fmt"
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
	maxBatchCount            = 1024
)

// packLimit returns the largest payload packed into one envelope for the
// relay at url: envelope.MaxPayload, or the payload of the largest bucket
// whose envelope fits the max_envelope the relay announced, if smaller.
// Larger bursts go in several envelopes. A single ratchet message above
// the limit still goes alone (the relay then refuses it, and the message
// is marked failed): message contents are bounded (64 KiB of text), so
// this only happens with a relay whose max_envelope is below 64 KiB.
func (m *Messenger) packLimit(url string) int {
	v, ok := m.maxEnvelope.Load(m.resolve(url))
	if !ok {
		return envelope.MaxPayload
	}
	return payloadLimit(v.(int))
}

// payloadLimit is the largest payload whose envelope is at most maxEnv
// bytes (0 if even the smallest envelope is larger).
func payloadLimit(maxEnv int) int {
	limit := 0
	for _, b := range envelope.Buckets() {
		if b+envelope.Overhead <= maxEnv {
			limit = b - 1
		}
	}
	return limit
}

// outBatch collects what one transaction sends to one contact.
type outBatch struct {
	c     *contactRec
	cts   [][]byte
	mids  []string // per ratchet message: the conversation entry it delivers, or ""
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
	b.mids = append(b.mids, mid)
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
		limit := m.packLimit(b.c.Theirs.Relay)
		for start := 0; start < len(b.cts); {
			end, size := start+1, 4+4+len(b.cts[start])
			for end < len(b.cts) && end-start < maxBatchCount && size+4+len(b.cts[end]) <= limit {
				size += 4 + len(b.cts[end])
				end++
			}
			payload := b.cts[start]
			if end-start > 1 {
				payload = packBatch(b.cts[start:end])
			}
			rec := outboxRec{Relay: b.c.Theirs.Relay, Mailbox: b.c.Theirs.ID, Token: b.c.Theirs.Token,
				TTL: ttl, Created: m.now().UTC()}
			for _, mid := range b.mids[start:end] {
				if mid != "" { // marked sent (or failed) with the envelope that carries it
					rec.MessageIDs = append(rec.MessageIDs, mid)
				}
			}
			env, err := m.seal(b.c, payload)
			if err != nil {
				// Never abort the transaction for it: a receive
				// transaction would then store nothing and be
				// redelivered for ever. The entry goes to the outbox
				// as failed, and its messages are marked so.
				m.log.Warn("sealing an envelope failed; its messages are marked failed", "err", err)
				rec.Failed = true
			}
			rec.Envelope = env
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

// seal seals payload to c's envelope key.
func (m *Messenger) seal(c *contactRec, payload []byte) ([]byte, error) {
	if testHookSeal != nil {
		if err := testHookSeal(m, c); err != nil {
			return nil, err
		}
	}
	pk, err := m.envelopeKey(c)
	if err != nil {
		return nil, fmt.Errorf("messenger: envelope key: %w", err)
	}
	return envelope.Seal(pk, payload)
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
