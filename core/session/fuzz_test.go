package session

import (
	"bytes"
	"testing"
)

// fuzzSeeds builds a session pair and some valid encodings to seed the
// corpora.
func fuzzSeeds(f *testing.F) (w *world, a, b *Session, prekeyMsg, msg []byte) {
	w = newWorld(f, 30, 2)
	a, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, w.up.OneTime[0], w.r)
	if err != nil {
		f.Fatal(err)
	}
	prekeyMsg = send(f, a, "first")
	b, _, err = Respond(w.bob, w.store, prekeyMsg, nil, w.r)
	if err != nil {
		f.Fatal(err)
	}
	msg = send(f, b, "reply")
	return w, a, b, prekeyMsg, msg
}

func FuzzMessage(f *testing.F) {
	_, _, _, pm, m := fuzzSeeds(f)
	f.Add(pm)
	f.Add(m)
	f.Add([]byte{1, 'M', 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		rm, err := parseMessage(data)
		if err != nil {
			return
		}
		if got := rm.marshal(); !bytes.Equal(got, data) {
			t.Fatalf("parse then marshal: got %x, want %x", got, data)
		}
	})
}

func FuzzHeader(f *testing.F) {
	h := &header{dh: make([]byte, 32), pn: 1, n: 2, ek: make([]byte, kemEKSize)}
	f.Add(h.marshal())
	h.ct = make([]byte, kemCTSize)
	f.Add(h.marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHeader(data)
		if err != nil {
			return
		}
		if got := h.marshal(); !bytes.Equal(got, data) {
			t.Fatal("parse then marshal changed the header")
		}
	})
}

func FuzzInitialMessage(f *testing.F) {
	_, _, _, pm, _ := fuzzSeeds(f)
	f.Add(pm[2 : 2+initialSize])
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseInitial(data)
		if err != nil {
			return
		}
		if got := h.marshal(); !bytes.Equal(got, data) {
			t.Fatal("parse then marshal changed the handshake header")
		}
	})
}

func FuzzBundle(f *testing.F) {
	w, _, _, _, _ := fuzzSeeds(f)
	f.Add(w.up.Bundle)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBundle(data)
		if err != nil {
			return
		}
		got, err := b.MarshalBinary()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("parse then marshal: %v", err)
		}
	})
}

func FuzzEntry(f *testing.F) {
	w, _, _, _, _ := fuzzSeeds(f)
	f.Add(w.up.OneTime[1])
	f.Add(w.up.LastResort)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			return
		}
		got, err := e.MarshalBinary()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("parse then marshal: %v", err)
		}
	})
}

func FuzzState(f *testing.F) {
	_, a, b, _, _ := fuzzSeeds(f)
	f.Add(mustMarshal(f, a))
	f.Add(mustMarshal(f, b))
	withPrev := clone(f, b)
	withPrev.KeepPrevious(clone(f, a))
	f.Add(mustMarshal(f, withPrev))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Session
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		got, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("decode then encode: %v", err)
		}
	})
}

func FuzzPrekeyStore(f *testing.F) {
	w, _, _, _, _ := fuzzSeeds(f)
	enc, _ := w.store.MarshalBinary()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s PrekeyStore
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		once, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var s2 PrekeyStore
		if err := s2.UnmarshalBinary(once); err != nil {
			t.Fatalf("re-decoding an encoded store: %v", err)
		}
		if twice, _ := s2.MarshalBinary(); !bytes.Equal(once, twice) {
			t.Fatal("encoding is not stable")
		}
	})
}

// FuzzDecrypt: a mutated or random ciphertext never decrypts (unless it is
// the original) and never changes the receiver's state.
func FuzzDecrypt(f *testing.F) {
	_, a, _, _, m := fuzzSeeds(f)
	f.Add(m, uint16(0), byte(0))
	f.Add(m, uint16(100), byte(1))
	f.Add(m, uint16(len(m)-1), byte(0x80))
	f.Add([]byte{1, 'M'}, uint16(0), byte(0))
	enc := mustMarshal(f, a)
	f.Fuzz(func(t *testing.T, data []byte, pos uint16, flip byte) {
		msg := bytes.Clone(data)
		if len(msg) > 0 {
			msg[int(pos)%len(msg)] ^= flip
		}
		if bytes.Equal(msg, m) {
			return
		}
		var s Session
		if err := s.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		if pt, err := s.Decrypt(msg, nil); err == nil {
			t.Fatalf("mutated message decrypted to %q", pt)
		}
		if after := mustMarshal(t, &s); !bytes.Equal(after, enc) {
			t.Fatal("a rejected message changed the state")
		}
	})
}
