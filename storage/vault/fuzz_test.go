package vault

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzHeader: decodeHeader never panics, fails only with the package's
// sentinels, and what it accepts encodes back to the same bytes.
func FuzzHeader(f *testing.F) {
	h := header{Version: SchemaVersion, KDF: DefaultKDF}
	h.Salt[0], h.VaultID[1], h.Nonce[2], h.Wrapped[3] = 1, 2, 3, 4
	f.Add(h.encode())
	f.Add([]byte(headerMagic))
	f.Add([]byte("EPHVAUL"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrNotVault) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNewerVersion) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if got := h.encode(); !bytes.Equal(got, b) {
			t.Fatalf("encode(decode(b)) != b")
		}
		_ = h.KDF.check(false) // must not panic
	})
}

// FuzzRecord: a sealed record opens to what was sealed, and any change
// to its bytes, bucket or key makes it fail without a panic.
func FuzzRecord(f *testing.F) {
	f.Add([]byte("hello"), []byte("r"), []byte("0123456789abcdef"), 3, byte(1))
	f.Add([]byte{}, []byte("x"), []byte{}, 0, byte(0x80))
	key := bytes.Repeat([]byte{7}, keySize)
	f.Fuzz(func(t *testing.T, pt, bucket, rkey []byte, pos int, flip byte) {
		sealed := sealRecord(key, bucket, rkey, pt)
		got, err := openRecord(key, bucket, rkey, sealed)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("round trip: %v", err)
		}
		if _, err := openRecord(key, append(bucket, 0), rkey, sealed); err == nil {
			t.Fatal("opened under another bucket")
		}
		if _, err := openRecord(key, bucket, append(rkey, 1), sealed); err == nil {
			t.Fatal("opened under another key")
		}
		if flip != 0 {
			bad := bytes.Clone(sealed)
			i := uint(pos) % uint(len(bad))
			bad[i] ^= flip
			if _, err := openRecord(key, bucket, rkey, bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flipped byte %d: got %v, want ErrCorrupt", i, err)
			}
		}
		if _, err := openRecord(key, bucket, rkey, sealed[:uint(pos)%uint(len(sealed))]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated: got %v, want ErrCorrupt", err)
		}
	})
}

// FuzzRecordDecode: the plaintext decoders never panic, and what they
// accept encodes back to the same bytes (the encoding is canonical), so
// decode(encode(x)) == x.
func FuzzRecordDecode(f *testing.F) {
	m := Message{Conversation: "c", Seq: 7, ID: "id", Time: time.Unix(1, 2), Expires: time.Unix(3, 4), Body: []byte("body")}
	f.Add(m.encode())
	f.Add((&Contact{ID: "a", Data: []byte("b")}).encode())
	f.Add((&OutboxEntry{Seq: 1, Contact: "a", Data: []byte("e")}).encode())
	f.Add(span{Low: 1, Next: 5}.encode())
	f.Add(encodeStrings([]string{"a", "bb"}))
	f.Add((&expiryEntry{Conversation: "c", Seq: 2, Expires: time.Unix(5, 0), Slot: 3}).encode())
	f.Add((&msgRecord{Slot: 4, Payload: []byte("sealed")}).encode())
	f.Add((&msgRecord{Slot: 0, Payload: []byte("inline"), Order: 5, HasOrder: true}).encode())
	f.Add(span{Low: 1, Next: 5, Last: 9, HasLast: true}.encode())
	f.Add((&attRecord{Slot: 3, Conversation: "c", Seq: 2}).encode())
	f.Add((&attRecord{Slot: 1}).encode())
	ma := m
	ma.Attachments = []AttachmentID{"0123456789abcdef0123456789abcdef"}
	f.Add(ma.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(name string, err error, enc func() []byte) {
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s: unexpected error %v", name, err)
				}
				return
			}
			if got := enc(); !bytes.Equal(got, b) {
				t.Fatalf("%s: encode(decode(b)) = %x, want %x", name, got, b)
			}
		}
		m, err := decodeMessage(b)
		check("message", err, m.encode)
		c, err := decodeContact(b)
		check("contact", err, c.encode)
		o, err := decodeOutbox(b)
		check("outbox", err, o.encode)
		s, err := decodeSpan(b)
		check("span", err, s.encode)
		x, err := decodeExpiry(b)
		check("expiry", err, x.encode)
		r, err := decodeMsgRecord(b)
		check("message record", err, r.encode)
		a, err := decodeAttRecord(b)
		check("attachment record", err, a.encode)
		ss, err := decodeStrings(b)
		check("strings", err, func() []byte { return encodeStrings(ss) })
	})
}

// FuzzPageDecode: the page decoder never panics, never accepts more than
// pageSize entries, and what it accepts encodes back to the same bytes;
// so does every message in it that the message decoder accepts, with
// its sequence number and order time (decode(encode(x)) == x).
func FuzzPageDecode(f *testing.F) {
	at := time.Unix(1700000000, 5)
	ms := []Message{
		{Body: []byte("short")},
		{ID: "id-1", Time: at, Expires: at.Add(time.Hour), BurnOnRead: true, Body: []byte("all fields"), Attachments: []AttachmentID{"0123456789abcdef0123456789abcdef"}},
		{Time: at.Add(-time.Minute)},
	}
	var ents []pageEntry
	for i, m := range ms {
		order := timeToNanos(at) + int64(i)
		ents = append(ents, pageEntry{Slot: entryInline, Order: order, Payload: appendMessage(nil, &m, order)})
	}
	f.Add(encodePage(ents))
	f.Add(encodePage([]pageEntry{{}, {Slot: entrySlot0 + 7, Order: -3, Payload: []byte("sealed")}}))
	f.Add(encodePage(make([]pageEntry, pageSize-1)))
	f.Add([]byte{1, 0x80, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ents, err := decodePage(nil, b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(ents) > pageSize {
			t.Fatalf("%d entries, more than %d", len(ents), pageSize)
		}
		if got := encodePage(ents); !bytes.Equal(got, b) {
			t.Fatalf("encode(decode(b)) = %x, want %x", got, b)
		}
		for i, e := range ents {
			if !e.present() {
				continue
			}
			m, err := decodeMessageAt(e.Payload, "c", uint64(i+1), e.Order)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("entry %d: unexpected error %v", i, err)
				}
				continue
			}
			if m.Conversation != "c" || m.Seq != uint64(i+1) {
				t.Fatalf("entry %d: decoded as %s/%d", i, m.Conversation, m.Seq)
			}
			if got := appendMessage(nil, &m, e.Order); !bytes.Equal(got, e.Payload) {
				t.Fatalf("entry %d: encode(decode(p)) = %x, want %x", i, got, e.Payload)
			}
		}
	})
}
