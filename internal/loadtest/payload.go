package loadtest

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// The payload a load-test client sends as its envelope. The relay treats it
// as opaque ciphertext; the receiver checks it end to end:
//
//	magic "EPLT" | version 1 | run id (uint64) | sender (uint32) |
//	receiver (uint32) | sequence (uint32) | sent at (int64, ns since run start) |
//	padding up to the requested size | SHA-256 of all the above, first 16 bytes
//
// The run id keeps envelopes left in a relay by an earlier run out of the
// figures; sender and sequence name a message, so loss and duplication are
// counted; the checksum catches corruption anywhere in the envelope.
const (
	payloadMagic   = "EPLT"
	payloadVersion = 1
	headerLen      = 4 + 1 + 8 + 4 + 4 + 4 + 8
	checksumLen    = 16

	// MinPayloadSize is the smallest envelope the load tool can send.
	MinPayloadSize = headerLen + checksumLen
)

// ErrCorrupt is wrapped by every payload that fails its checks.
var ErrCorrupt = errors.New("loadtest: corrupt payload")

// Payload is what one load-test envelope carries.
type Payload struct {
	Run      uint64
	Sender   uint32
	Receiver uint32
	Seq      uint32
	SentAt   int64 // nanoseconds since the run's start (monotonic clock)
}

// padding is fixed filler: its content does not matter, the checksum covers it.
var padding = func() []byte {
	p := make([]byte, 64<<10)
	x := uint32(2463534242)
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = byte(x)
	}
	return p
}()

// AppendPayload appends p encoded as an envelope of size bytes (at least
// MinPayloadSize) to b.
func AppendPayload(b []byte, p Payload, size int) []byte {
	if size < MinPayloadSize {
		size = MinPayloadSize
	}
	start := len(b)
	b = append(b, payloadMagic...)
	b = append(b, payloadVersion)
	b = binary.BigEndian.AppendUint64(b, p.Run)
	b = binary.BigEndian.AppendUint32(b, p.Sender)
	b = binary.BigEndian.AppendUint32(b, p.Receiver)
	b = binary.BigEndian.AppendUint32(b, p.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(p.SentAt))
	for pad := size - MinPayloadSize; pad > 0; {
		// Start the filler at a per-message offset so envelopes differ.
		off := int(p.Seq*31+p.Sender*7) % len(padding)
		n := min(pad, len(padding)-off)
		b = append(b, padding[off:off+n]...)
		pad -= n
	}
	sum := sha256.Sum256(b[start:])
	return append(b, sum[:checksumLen]...)
}

// ParsePayload checks an envelope and returns what it carries.
func ParsePayload(b []byte) (Payload, error) {
	var p Payload
	if len(b) < MinPayloadSize {
		return p, fmt.Errorf("%w: %d bytes, shorter than %d", ErrCorrupt, len(b), MinPayloadSize)
	}
	body, sum := b[:len(b)-checksumLen], b[len(b)-checksumLen:]
	want := sha256.Sum256(body)
	if string(want[:checksumLen]) != string(sum) {
		return p, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if string(body[:4]) != payloadMagic || body[4] != payloadVersion {
		return p, fmt.Errorf("%w: bad magic or version", ErrCorrupt)
	}
	h := body[5:]
	p.Run = binary.BigEndian.Uint64(h[0:])
	p.Sender = binary.BigEndian.Uint32(h[8:])
	p.Receiver = binary.BigEndian.Uint32(h[12:])
	p.Seq = binary.BigEndian.Uint32(h[16:])
	p.SentAt = int64(binary.BigEndian.Uint64(h[20:]))
	return p, nil
}
