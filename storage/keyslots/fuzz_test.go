package keyslots

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzHeader: parsing never panics, and a header that parses marshals back
// to the same bytes.
func FuzzHeader(f *testing.F) {
	h := &header{version: version, slotSize: SlotSize}
	f.Add(h.marshal())
	f.Add([]byte(magic))
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		if got := h.marshal(); !bytes.Equal(got, b[:HeaderSize]) {
			t.Fatalf("parse then marshal: got %x, want %x", got, b[:HeaderSize])
		}
	})
}

// FuzzSlot: a slot decodes only if it is the genuine sealing of its key at
// its index: re-sealing with the slot's nonce gives the same bytes.
func FuzzSlot(f *testing.F) {
	kf := &File{slotKey: bytes.Repeat([]byte{9}, KeySize)}
	copy(kf.ad[:], "0123456789abcdef0123456789abcdef")
	aead := kf.aead()
	key := [KeySize]byte{1, 2, 3}
	for i := range uint32(3) {
		f.Add(sealSlot(aead, &kf.ad, i, make([]byte, nonceSize), &key), i)
	}
	f.Add(make([]byte, SlotSize), uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, i uint32) {
		k, ok := openSlot(aead, &kf.ad, i, b)
		if !ok {
			return
		}
		if again := sealSlot(aead, &kf.ad, i, b[:nonceSize], k); !bytes.Equal(again, b) {
			t.Fatalf("slot %d decoded but is not a genuine sealing", i)
		}
	})
}

// FuzzOpen opens mutated key files. Open never panics, and a file it
// accepts yields no key but the genuine ones: every slot that holds a key
// has the original bytes and the original key at that index.
func FuzzOpen(f *testing.F) {
	// Built deterministically: fuzzing workers rerun this setup and must
	// agree with the coordinator's seed corpus.
	dir := f.TempDir()
	master := bytes.Repeat([]byte{5}, KeySize)
	h := &header{version: version, slotSize: SlotSize, salt: [saltSize]byte{1, 2, 3}}
	sk, check, err := deriveKeys(master, h)
	if err != nil {
		f.Fatal(err)
	}
	h.check = check
	kf := &File{slotKey: sk}
	good := h.marshal()
	copy(kf.ad[:], good)
	keys := map[uint32][]byte{}
	for i := range uint32(6) {
		if i == 1 || i == 4 {
			good = append(good, bytes.Repeat([]byte{byte(i)}, SlotSize)...) // free
			continue
		}
		k := [KeySize]byte{byte(i), 0xAA}
		keys[i] = k[:]
		good = append(good, sealSlot(kf.aead(), &kf.ad, i, bytes.Repeat([]byte{byte(i)}, nonceSize), &k)...)
	}
	path := filepath.Join(dir, "fuzz")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		f.Fatal(err)
	}
	if kf, err := Open(path, master); err != nil {
		f.Fatal(err)
	} else if got := fmt.Sprint(kf.Allocated()); got != "[0 2 3 5]" {
		f.Fatalf("seed file: allocated %s, want [0 2 3 5]", got)
	} else {
		kf.Close()
	}
	f.Add(good)
	f.Add(good[:HeaderSize+3*SlotSize+10])
	f.Add(good[:HeaderSize])
	f.Add(good[:10])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > HeaderSize+1024*SlotSize {
			return // Open's bound is tested elsewhere; keep iterations fast
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		kf, err := Open(path, master)
		if err != nil {
			return
		}
		defer kf.Close()
		for _, s := range kf.Allocated() {
			want, ok := keys[s]
			if !ok {
				t.Fatalf("slot %d holds a key that was never allocated there", s)
			}
			got, err := kf.Get(s)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("slot %d: got %x, %v, want %x", s, got, err, want)
			}
		}
	})
}

// FuzzOps runs a sequence of Alloc, Destroy, Get and reopen operations
// against a model: every key allocated and not destroyed reads back, on
// the open File and after reopening, and every destroyed one is gone.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 3, 0})
	f.Add([]byte{0, 1, 1, 0, 3, 0, 0, 5, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		path := filepath.Join(t.TempDir(), "keys")
		master := bytes.Repeat([]byte{3}, KeySize)
		kf, err := Create(path, master)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { kf.Close() }()
		model := map[uint32][]byte{}
		for _, op := range ops {
			arg := uint32(op >> 2)
			switch op & 3 {
			case 0:
				s, k, err := kf.Alloc()
				if err != nil {
					t.Fatal(err)
				}
				if _, used := model[s]; used {
					t.Fatalf("Alloc returned slot %d, which is in use", s)
				}
				model[s] = k
			case 1:
				err := kf.Destroy(arg)
				if arg >= uint32(kf.Slots()) {
					if !errors.Is(err, ErrRange) {
						t.Fatalf("Destroy(%d) of %d slots: got %v, want ErrRange", arg, kf.Slots(), err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				delete(model, arg)
			case 2:
				got, err := kf.Get(arg)
				if want, ok := model[arg]; ok {
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("Get(%d): got %x, %v, want %x", arg, got, err, want)
					}
				} else if err == nil {
					t.Fatalf("Get(%d): got a key for a free slot", arg)
				}
			case 3:
				kf.Close()
				if kf, err = Open(path, master); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got, want := len(kf.Allocated()), len(model); got != want {
			t.Fatalf("Allocated: %d slots, want %d", got, want)
		}
		for s, want := range model {
			if got, err := kf.Get(s); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Get(%d): got %x, %v, want %x", s, got, err, want)
			}
		}
	})
}
