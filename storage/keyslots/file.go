package keyslots

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes of the format.
const (
	// KeySize is the size of the master key and of every slot key.
	KeySize = 32
	// SlotSize is the size of one slot on disk.
	SlotSize = 64
	// HeaderSize is the size of the file header.
	HeaderSize = 64
	// MaxSlots bounds the number of slots (a 256 MiB file), so a hostile
	// file cannot make Open allocate without limit.
	MaxSlots = 1 << 22

	version   = 1
	magic     = "EPHKSLOT"
	saltSize  = 16
	adPrefix  = 32 // header bytes bound into every slot and the check
	nonceSize = chacha20poly1305.NonceSize
	stateSize = 4
	stateUsed = 1

	minGrowth = 64
)

const (
	slotInfo  = "ephemera keyslots v1 slot"
	checkInfo = "ephemera keyslots v1 check"
)

// Errors. Test them with errors.Is.
var (
	// ErrFormat means the file is not a key file, or its header is damaged.
	ErrFormat = errors.New("keyslots: not a valid key file")
	// ErrVersion means the file was written by a newer version.
	ErrVersion = errors.New("keyslots: unsupported key file version")
	// ErrWrongMaster means the master key is not the one the file was
	// created with.
	ErrWrongMaster = errors.New("keyslots: wrong master key")
	// ErrNoKey means the slot holds no key: never allocated, or destroyed.
	ErrNoKey = errors.New("keyslots: no key in slot")
	// ErrRange means the slot number is beyond the end of the file.
	ErrRange = errors.New("keyslots: slot out of range")
	// ErrFull means the file already has MaxSlots slots, all in use.
	ErrFull = errors.New("keyslots: all slots in use")
	// ErrClosed means the File was closed.
	ErrClosed = errors.New("keyslots: file closed")
)

// File is an open key file. Its methods are safe for concurrent use. Writes
// (Alloc, Destroy) are serialised, each with its own fsync, and Get waits
// while one is in progress. The zero value is not usable; call Open.
type File struct {
	mu      sync.RWMutex
	f       *os.File
	ad      [adPrefix]byte // header[:32], bound into every slot
	slotKey []byte         // nil once closed
	keys    map[uint32]*[KeySize]byte
	free    []uint32 // free slots, highest first, so the lowest is reused first
	n       uint32   // number of whole slots in the file
}

// header is the decoded fixed part of a header.
type header struct {
	version  uint16
	slotSize uint16
	salt     [saltSize]byte
	check    [sha256.Size]byte
}

func (h *header) marshal() []byte {
	b := make([]byte, 0, HeaderSize)
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint16(b, h.version)
	b = binary.BigEndian.AppendUint16(b, h.slotSize)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = append(b, h.salt[:]...)
	return append(b, h.check[:]...)
}

// parseHeader decodes and checks the structure of a header; it does not
// verify the check value, which needs the master key.
func parseHeader(b []byte) (*header, error) {
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("%w: header of %d bytes, want %d", ErrFormat, len(b), HeaderSize)
	}
	if string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	h := &header{
		version:  binary.BigEndian.Uint16(b[8:]),
		slotSize: binary.BigEndian.Uint16(b[10:]),
	}
	if h.version != version {
		return nil, fmt.Errorf("%w: version %d, this code reads %d", ErrVersion, h.version, version)
	}
	if h.slotSize != SlotSize {
		return nil, fmt.Errorf("%w: slot size %d, want %d", ErrFormat, h.slotSize, SlotSize)
	}
	if r := binary.BigEndian.Uint32(b[12:]); r != 0 {
		return nil, fmt.Errorf("%w: reserved header field is %#x", ErrFormat, r)
	}
	copy(h.salt[:], b[16:])
	copy(h.check[:], b[32:])
	return h, nil
}

// deriveKeys returns the slot key and the header check for master.
func deriveKeys(master []byte, h *header) (slotKey []byte, check [sha256.Size]byte, err error) {
	prefix := h.marshal()[:adPrefix]
	slotKey, err = hkdf.Key(sha256.New, master, h.salt[:], slotInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, check, err
	}
	ck, err := hkdf.Key(sha256.New, master, h.salt[:], checkInfo, sha256.Size)
	if err != nil {
		return nil, check, err
	}
	m := hmac.New(sha256.New, ck)
	m.Write(prefix)
	copy(check[:], m.Sum(nil))
	clear(ck)
	return slotKey, check, nil
}

// Open opens the existing key file at path with the master key. A missing
// file is an error wrapping fs.ErrNotExist (it is never recreated here: an
// empty key file would silently stand for every key it lost; Create makes
// one). Errors wrap ErrFormat, ErrVersion or ErrWrongMaster for a file that
// cannot be used; a damaged file is never modified by Open.
func Open(path string, master []byte) (*File, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("keyslots: master key is %d bytes, want %d", len(master), KeySize)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("keyslots: %w", err)
	}
	kf, err := load(f, master)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return kf, nil
}

// Create makes a new, empty key file at path for the master key and opens
// it. It fails with an error wrapping fs.ErrExist if path exists.
func Create(path string, master []byte) (*File, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("keyslots: master key is %d bytes, want %d", len(master), KeySize)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("keyslots: create %s: %w", path, fs.ErrExist)
	}
	if err := create(path, master); err != nil {
		return nil, err
	}
	return Open(path, master)
}

// create writes a new, empty key file atomically: a temporary file is
// written and synced, then hard-linked into place (renamed where links are
// unsupported) and the folder synced. A crash may leave a temporary file
// holding only a header, which reveals nothing.
func create(path string, master []byte) error {
	h := &header{version: version, slotSize: SlotSize}
	rand.Read(h.salt[:])
	sk, check, err := deriveKeys(master, h)
	if err != nil {
		return fmt.Errorf("keyslots: %w", err)
	}
	clear(sk)
	h.check = check
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("keyslots: %w", err)
	}
	defer os.Remove(tmp.Name()) // after Link the file lives on under path
	if _, err := tmp.Write(h.marshal()); err != nil {
		tmp.Close()
		return fmt.Errorf("keyslots: writing header: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keyslots: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keyslots: %w", err)
	}
	// Link rather than rename, so that a file created meanwhile by someone
	// else is never replaced.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("keyslots: create %s: %w", path, fs.ErrExist)
		}
		if err := os.Rename(tmp.Name(), path); err != nil { // no hard links (some file systems)
			return fmt.Errorf("keyslots: %w", err)
		}
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("keyslots: %w", err)
	}
	defer d.Close()
	// Some systems (Windows) cannot sync a folder; the rename is then as
	// durable as the file system makes it.
	d.Sync()
	return nil
}

// load reads the header and every slot of an open key file.
func load(f *os.File, master []byte) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyslots: %w", err)
	}
	size := st.Size()
	hb := make([]byte, HeaderSize)
	if n, err := f.ReadAt(hb, 0); n < HeaderSize {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: file of %d bytes is shorter than a header", ErrFormat, size)
		}
		return nil, fmt.Errorf("keyslots: reading header: %w", err)
	}
	h, err := parseHeader(hb)
	if err != nil {
		return nil, err
	}
	slotKey, check, err := deriveKeys(master, h)
	if err != nil {
		return nil, fmt.Errorf("keyslots: %w", err)
	}
	if !hmac.Equal(check[:], h.check[:]) {
		clear(slotKey)
		return nil, ErrWrongMaster
	}
	n := (size - HeaderSize) / SlotSize
	if n > MaxSlots {
		clear(slotKey)
		return nil, fmt.Errorf("%w: %d slots, more than %d", ErrFormat, n, MaxSlots)
	}
	kf := &File{f: f, slotKey: slotKey, keys: make(map[uint32]*[KeySize]byte), n: uint32(n)}
	copy(kf.ad[:], hb[:adPrefix])
	aead := kf.aead()
	const batch = 4096
	buf := make([]byte, batch*SlotSize)
	for first := uint32(0); first < kf.n; first += batch {
		k := min(batch, kf.n-first)
		b := buf[:k*SlotSize]
		if _, err := f.ReadAt(b, HeaderSize+int64(first)*SlotSize); err != nil {
			kf.wipe()
			return nil, fmt.Errorf("keyslots: reading slots: %w", err)
		}
		for j := range k {
			if key, ok := openSlot(aead, &kf.ad, first+j, b[j*SlotSize:(j+1)*SlotSize]); ok {
				kf.keys[first+j] = key
			}
		}
	}
	clear(buf)
	for i := kf.n; i > 0; i-- {
		if kf.keys[i-1] == nil {
			kf.free = append(kf.free, i-1)
		}
	}
	return kf, nil
}

func (kf *File) aead() cipher.AEAD {
	a, err := chacha20poly1305.New(kf.slotKey)
	if err != nil {
		panic(err) // the key size is fixed
	}
	return a
}

func slotAD(ad *[adPrefix]byte, i uint32) []byte {
	return binary.BigEndian.AppendUint32(append(make([]byte, 0, adPrefix+4), ad[:]...), i)
}

// sealSlot encodes key for slot i with the given nonce.
func sealSlot(aead cipher.AEAD, ad *[adPrefix]byte, i uint32, nonce []byte, key *[KeySize]byte) []byte {
	b := make([]byte, 0, SlotSize)
	b = append(b, nonce...)
	var pt [stateSize + KeySize]byte
	pt[0] = stateUsed
	copy(pt[stateSize:], key[:])
	b = aead.Seal(b, nonce, pt[:], slotAD(ad, i))
	clear(pt[:])
	return b
}

// openSlot decodes slot i; ok is false for a free or damaged slot.
func openSlot(aead cipher.AEAD, ad *[adPrefix]byte, i uint32, b []byte) (*[KeySize]byte, bool) {
	if len(b) != SlotSize {
		return nil, false
	}
	var pt [stateSize + KeySize]byte
	if _, err := aead.Open(pt[:0], b[:nonceSize], b[nonceSize:], slotAD(ad, i)); err != nil {
		return nil, false
	}
	defer clear(pt[:])
	if pt[0] != stateUsed || pt[1] != 0 || pt[2] != 0 || pt[3] != 0 {
		return nil, false // a state this version does not know: not ours to use
	}
	key := new([KeySize]byte)
	copy(key[:], pt[stateSize:])
	return key, true
}

// writeSlot writes b at slot i and syncs the file.
func (kf *File) writeSlot(i uint32, b []byte) error {
	if _, err := kf.f.WriteAt(b, HeaderSize+int64(i)*SlotSize); err != nil {
		return fmt.Errorf("keyslots: writing slot %d: %w", i, err)
	}
	if err := kf.f.Sync(); err != nil {
		return fmt.Errorf("keyslots: syncing slot %d: %w", i, err)
	}
	return nil
}

// grow appends random free slots. kf.mu must be held and free be empty.
func (kf *File) grow() error {
	add := max(minGrowth, kf.n/4)
	add = min(add, MaxSlots-kf.n)
	if add == 0 {
		return ErrFull
	}
	b := make([]byte, int(add)*SlotSize)
	rand.Read(b)
	if _, err := kf.f.WriteAt(b, HeaderSize+int64(kf.n)*SlotSize); err != nil {
		return fmt.Errorf("keyslots: growing: %w", err)
	}
	if err := kf.f.Sync(); err != nil {
		return fmt.Errorf("keyslots: growing: %w", err)
	}
	// Called only when no slot is free, so free stays sorted highest first.
	for i := kf.n + add; i > kf.n; i-- {
		kf.free = append(kf.free, i-1)
	}
	kf.n += add
	return nil
}

// Alloc chooses a free slot (growing the file if none is free), stores a
// fresh random key in it and syncs the file. The key is returned only once
// it is durable.
func (kf *File) Alloc() (slot uint32, key []byte, err error) {
	k := new([KeySize]byte)
	rand.Read(k[:])
	i, err := kf.store(k)
	if err != nil {
		return 0, nil, err
	}
	return i, slices.Clone(k[:]), nil
}

// AllocKey is Alloc for a key the caller already has (KeySize bytes),
// such as one moved out of another store: it chooses a free slot,
// stores a copy of key in it and syncs the file before returning.
func (kf *File) AllocKey(key []byte) (slot uint32, err error) {
	if len(key) != KeySize {
		return 0, fmt.Errorf("keyslots: key is %d bytes, want %d", len(key), KeySize)
	}
	k := new([KeySize]byte)
	copy(k[:], key)
	return kf.store(k)
}

// store writes k into a free slot and keeps it; on error k is wiped.
func (kf *File) store(k *[KeySize]byte) (uint32, error) {
	kf.mu.Lock()
	defer kf.mu.Unlock()
	if kf.slotKey == nil {
		clear(k[:])
		return 0, ErrClosed
	}
	if len(kf.free) == 0 {
		if err := kf.grow(); err != nil {
			clear(k[:])
			return 0, err
		}
	}
	i := kf.free[len(kf.free)-1]
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	if err := kf.writeSlot(i, sealSlot(kf.aead(), &kf.ad, i, nonce, k)); err != nil {
		// The slot may hold the new content or be torn; it stays free, and
		// whatever it holds is overwritten when it is next used.
		clear(k[:])
		return 0, err
	}
	kf.free = kf.free[:len(kf.free)-1]
	kf.keys[i] = k
	return i, nil
}

// Get returns a copy of the key in slot. Errors wrap ErrNoKey for a slot
// that holds no key (never allocated or destroyed) and ErrRange for a slot
// beyond the end of the file.
func (kf *File) Get(slot uint32) ([]byte, error) {
	kf.mu.RLock()
	defer kf.mu.RUnlock()
	if kf.slotKey == nil {
		return nil, ErrClosed
	}
	if slot >= kf.n {
		return nil, fmt.Errorf("%w: slot %d of %d", ErrRange, slot, kf.n)
	}
	k := kf.keys[slot]
	if k == nil {
		return nil, fmt.Errorf("%w: slot %d", ErrNoKey, slot)
	}
	return slices.Clone(k[:]), nil
}

// Destroy overwrites slot in place with random bytes, syncs the file, and
// only then wipes the key from memory and frees the slot. Destroying a slot
// that holds no key is not an error (it is overwritten again), so a caller
// may retry after a crash. If Destroy returns an error the key is kept and
// Destroy should be retried.
func (kf *File) Destroy(slot uint32) error {
	return kf.DestroyMany([]uint32{slot})
}

// DestroyMany is Destroy for several slots with one fsync for all of them,
// for expiring many messages at once. Each slot is still written whole by
// one WriteAt. If it returns an error, no key has been freed in memory (some
// slots may already be overwritten on disk), and the call should be retried.
func (kf *File) DestroyMany(slots []uint32) error {
	kf.mu.Lock()
	defer kf.mu.Unlock()
	if kf.slotKey == nil {
		return ErrClosed
	}
	for _, s := range slots {
		if s >= kf.n {
			return fmt.Errorf("%w: slot %d of %d", ErrRange, s, kf.n)
		}
	}
	b := make([]byte, SlotSize)
	for _, s := range slots {
		rand.Read(b)
		if _, err := kf.f.WriteAt(b, HeaderSize+int64(s)*SlotSize); err != nil {
			return fmt.Errorf("keyslots: overwriting slot %d: %w", s, err)
		}
	}
	if err := kf.f.Sync(); err != nil {
		return fmt.Errorf("keyslots: syncing: %w", err)
	}
	for _, s := range slots {
		if k := kf.keys[s]; k != nil {
			clear(k[:])
			delete(kf.keys, s)
			// Keep free sorted highest first.
			at, _ := slices.BinarySearchFunc(kf.free, s, func(e, t uint32) int { return int(int64(t) - int64(e)) })
			kf.free = slices.Insert(kf.free, at, s)
		}
	}
	return nil
}

// Allocated returns the slots that hold keys, in increasing order. A caller
// can compare it with the slots it references to destroy orphans left by a
// crash between Alloc and recording the slot.
func (kf *File) Allocated() []uint32 {
	kf.mu.RLock()
	defer kf.mu.RUnlock()
	s := make([]uint32, 0, len(kf.keys))
	for i := range kf.keys {
		s = append(s, i)
	}
	slices.Sort(s)
	return s
}

// Slots returns the number of slots in the file, used or free.
func (kf *File) Slots() int {
	kf.mu.RLock()
	defer kf.mu.RUnlock()
	return int(kf.n)
}

// Close wipes the keys from memory and closes the file. Later calls to any
// method return ErrClosed; Close itself may be called again.
func (kf *File) Close() error {
	kf.mu.Lock()
	defer kf.mu.Unlock()
	if kf.slotKey == nil {
		return nil
	}
	kf.wipe()
	return kf.f.Close()
}

// wipe clears every key held in memory.
func (kf *File) wipe() {
	for i, k := range kf.keys {
		clear(k[:])
		delete(kf.keys, i)
	}
	clear(kf.slotKey)
	kf.slotKey = nil
	kf.free = nil
}

// CopyTo writes a new key file at path (which must not exist) for
// master: the same number of slots, each key in the slot it has here,
// sealed again under master with a fresh salt and nonces, free slots
// random; the file is synced before CopyTo returns. A vault re-keys its
// key file this way: no slot number that a record names changes.
func (kf *File) CopyTo(path string, master []byte) error {
	if len(master) != KeySize {
		return fmt.Errorf("keyslots: master key is %d bytes, want %d", len(master), KeySize)
	}
	kf.mu.RLock()
	defer kf.mu.RUnlock()
	if kf.slotKey == nil {
		return ErrClosed
	}
	h := &header{version: version, slotSize: SlotSize}
	rand.Read(h.salt[:])
	sk, check, err := deriveKeys(master, h)
	if err != nil {
		return fmt.Errorf("keyslots: %w", err)
	}
	defer clear(sk)
	h.check = check
	hb := h.marshal()
	var ad [adPrefix]byte
	copy(ad[:], hb[:adPrefix])
	aead, err := chacha20poly1305.New(sk)
	if err != nil {
		return fmt.Errorf("keyslots: %w", err)
	}
	buf := make([]byte, HeaderSize+int(kf.n)*SlotSize)
	copy(buf, hb)
	rand.Read(buf[HeaderSize:])
	nonce := make([]byte, nonceSize)
	for i, k := range kf.keys {
		rand.Read(nonce)
		copy(buf[HeaderSize+int(i)*SlotSize:], sealSlot(aead, &ad, i, nonce, k))
	}
	defer clear(buf)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keyslots: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return fmt.Errorf("keyslots: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("keyslots: %w", err)
	}
	return f.Close()
}
