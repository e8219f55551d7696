// Package boltcheck checks a bbolt file before bbolt opens it, reading
// only, so that a damaged file is an error instead of a panic.
//
// Why: Ephemera's bbolt files (the vault's vault.db, the relay's
// relay.db) are opened with NoFreelistSync, so bbolt rebuilds the
// freelist at open by walking every reachable page in a goroutine of its
// own, where a damaged page ends in a panic ("assertion failed: Page
// expected to be…", or a fault reading past the end of a truncated file)
// that no recover can reach. Check walks the same pages first, the way
// bbolt reads them (go.etcd.io/bbolt's page layout, in the machine's
// byte order), and returns an error wrapping ErrDamaged instead:
//
//   - both meta pages are read; the one bbolt uses (the valid one with
//     the higher transaction id) must be valid, with its root, freelist
//     and high-water mark inside the file;
//   - from the root bucket down, through nested and inline buckets,
//     every page must say it is the page it is referenced as, be a
//     branch or leaf page, lie (overflow pages included) below the
//     high-water mark and inside the file, be referenced once, hold its
//     elements, keys and values inside itself, and keep its keys in
//     order within the bounds its parent gives them (as bbolt's own
//     Tx.Check).
//
// It reads every reachable page once (what bbolt's own rebuild then
// does again); docs/PERFORMANCE.md has the cost. Memory is one page
// (plus its overflow) at a time, one bit per page of the file, and the
// keys of one branch page per level of the tree.
package boltcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// ErrDamaged: the file is not a whole, well-formed bbolt file.
var ErrDamaged = errors.New("boltcheck: damaged bbolt file")

// Check reads the bbolt file at path and returns nil if bbolt can open
// it and walk its pages without failing an assertion. Damage is an error
// wrapping ErrDamaged that says what is wrong; a failure to read the file
// is returned as it is. An empty file is damaged; a missing one is the
// os error (fs.ErrNotExist).
func Check(path string) error {
	_, err := check(path, nil)
	return err
}

// Pages is Check that also returns the page size, the high-water mark
// and the first page of every page reachable from the root (not the
// meta pages, nor overflow pages), for tests that damage chosen pages.
func Pages(path string) (pageSize int, hwm uint64, pages []uint64, err error) {
	c, err := check(path, func(id uint64) { pages = append(pages, id) })
	if err != nil {
		return 0, 0, nil, err
	}
	return int(c.ps), c.hwm, pages, nil
}

func check(path string, onPage func(uint64)) (*checker, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("%w: empty", ErrDamaged)
	}
	c := &checker{f: f, size: fi.Size(), onPage: onPage}
	if err := c.check(); err != nil {
		var ioErr *ioError
		if errors.As(err, &ioErr) {
			return nil, ioErr.err
		}
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return c, nil
}

// bbolt's on-disk layout (go.etcd.io/bbolt/internal/common).
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltPageHeader   = 16 // id u64, flags u16, count u16, overflow u32
	boltElemSize     = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	boltMetaSize     = 64
	boltBranchPage   = 0x01
	boltLeafPage     = 0x02
	boltMetaPage     = 0x04
	boltFreelistPage = 0x10
	boltBucketLeaf   = 0x01
	boltNoFreelist   = ^uint64(0)
	boltMinPageSize  = 512
	boltMaxPageSize  = 1 << 24
)

// ioError is a failure to read the file, not damage in it.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // pgid: the first page id past the data
	txid     uint64
}

type checker struct {
	f    *os.File
	size int64
	ps   int64
	hwm  uint64
	seen []uint64 // one bit per page id below hwm
	buf  []byte
	// onPage, if set, is called with every page read (tests).
	onPage func(id uint64)
}

func (c *checker) readAt(b []byte, off int64) error {
	if _, err := c.f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("truncated: %d bytes at %d past the end (%d)", len(b), off, c.size)
		}
		return &ioError{err}
	}
	return nil
}

// parseMeta decodes the meta page in b (a page's first bytes).
func parseMeta(b []byte) (boltMeta, error) {
	var m boltMeta
	if len(b) < boltPageHeader+boltMetaSize {
		return m, errors.New("meta page truncated")
	}
	if flags := binary.NativeEndian.Uint16(b[8:]); flags&boltMetaPage == 0 {
		return m, fmt.Errorf("meta page has flags %#x", flags)
	}
	mb := b[boltPageHeader : boltPageHeader+boltMetaSize]
	ne := binary.NativeEndian
	if ne.Uint32(mb[0:]) != boltMagic {
		return m, errors.New("meta page: bad magic")
	}
	if v := ne.Uint32(mb[4:]); v != boltVersion {
		return m, fmt.Errorf("meta page: version %d", v)
	}
	h := fnv.New64a()
	h.Write(mb[:56])
	if h.Sum64() != ne.Uint64(mb[56:]) {
		return m, errors.New("meta page: checksum mismatch")
	}
	m.pageSize = ne.Uint32(mb[8:])
	m.root = ne.Uint64(mb[16:])
	m.freelist = ne.Uint64(mb[32:])
	m.hwm = ne.Uint64(mb[40:])
	m.txid = ne.Uint64(mb[48:])
	return m, nil
}

// meta picks the meta page bbolt will use: of the valid ones, the one
// with the higher transaction id. bbolt finds page 1 by trying page
// sizes; a valid page 0 gives it.
func (c *checker) meta() (boltMeta, error) {
	b := make([]byte, boltPageHeader+boltMetaSize)
	var m0, m1 boltMeta
	var err0, err1 error
	if err := c.readAt(b, 0); err != nil {
		return m0, err
	}
	m0, err0 = parseMeta(b)
	ps := int64(0)
	if err0 == nil {
		ps = int64(m0.pageSize)
	}
	if ps != 0 {
		if err := c.readAt(b, ps); err != nil {
			return m0, err
		}
		m1, err1 = parseMeta(b)
	} else {
		err1 = errors.New("meta page 1 not found")
		for ps = 1024; ps <= boltMaxPageSize && ps < c.size-1024; ps <<= 1 {
			if err := c.readAt(b, ps); err != nil {
				return m0, err
			}
			if m1, err1 = parseMeta(b); err1 == nil {
				break
			}
		}
	}
	switch {
	case err0 != nil && err1 != nil:
		return m0, fmt.Errorf("both meta pages invalid: %v; %v", err0, err1)
	case err0 != nil:
		return m1, nil
	case err1 != nil:
		return m0, nil
	case m1.txid > m0.txid:
		return m1, nil
	}
	return m0, nil
}

func (c *checker) check() error {
	m, err := c.meta()
	if err != nil {
		return err
	}
	c.ps = int64(m.pageSize)
	if c.ps < boltMinPageSize || c.ps > boltMaxPageSize || c.ps&(c.ps-1) != 0 {
		return fmt.Errorf("page size %d", c.ps)
	}
	if m.hwm < 2 || m.hwm > uint64(c.size/c.ps) {
		return fmt.Errorf("truncated: %d pages of %d bytes in a file of %d bytes", m.hwm, c.ps, c.size)
	}
	c.hwm = m.hwm
	c.seen = make([]uint64, (c.hwm+63)/64)
	c.mark(0)
	c.mark(1)
	if m.freelist != boltNoFreelist {
		if err := c.checkFreelist(m.freelist); err != nil {
			return err
		}
	}
	if m.root == 0 {
		return errors.New("root bucket has no page")
	}
	return c.walk(m.root, nil, nil, 0)
}

// mark records page id as referenced; false if it already was.
func (c *checker) mark(id uint64) bool {
	w, bit := id/64, uint64(1)<<(id%64)
	if c.seen[w]&bit != 0 {
		return false
	}
	c.seen[w] |= bit
	return true
}

// page reads page id and its overflow pages, checking the header.
func (c *checker) page(id uint64, want uint16) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, fmt.Errorf("page %d: outside the data (2 to %d)", id, c.hwm-1)
	}
	var hdr [boltPageHeader]byte
	if err := c.readAt(hdr[:], int64(id)*c.ps); err != nil {
		return nil, err
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(hdr[0:]); got != id {
		return nil, fmt.Errorf("page %d: says it is page %d", id, got)
	}
	flags := ne.Uint16(hdr[8:])
	if flags&want == 0 || flags&^(boltBranchPage|boltLeafPage|boltFreelistPage) != 0 || flags&(flags-1) != 0 {
		return nil, fmt.Errorf("page %d: flags %#x", id, flags)
	}
	over := uint64(ne.Uint32(hdr[12:]))
	if over >= c.hwm-id {
		return nil, fmt.Errorf("page %d: %d overflow pages past the data", id, over)
	}
	if c.onPage != nil {
		c.onPage(id)
	}
	for i := uint64(0); i <= over; i++ {
		if !c.mark(id + i) {
			return nil, fmt.Errorf("page %d: referenced twice", id+i)
		}
	}
	n := int64(over+1) * c.ps
	if int64(cap(c.buf)) < n {
		c.buf = make([]byte, n)
	}
	b := c.buf[:n]
	if err := c.readAt(b, int64(id)*c.ps); err != nil {
		return nil, err
	}
	return b, nil
}

func (c *checker) checkFreelist(id uint64) error {
	b, err := c.page(id, boltFreelistPage)
	if err != nil {
		return err
	}
	n := uint64(binary.NativeEndian.Uint16(b[10:]))
	start := uint64(boltPageHeader)
	if n == 0xFFFF {
		if len(b) < boltPageHeader+8 {
			return fmt.Errorf("freelist page %d: truncated", id)
		}
		n = binary.NativeEndian.Uint64(b[boltPageHeader:])
		start += 8
	}
	if n > (uint64(len(b))-start)/8 {
		return fmt.Errorf("freelist page %d: %d ids do not fit", id, n)
	}
	for i := range n {
		if p := binary.NativeEndian.Uint64(b[start+8*i:]); p < 2 || p >= c.hwm {
			return fmt.Errorf("freelist page %d: frees page %d, outside the data", id, p)
		}
	}
	return nil
}

// maxDepth bounds the nesting of pages and buckets; bbolt's trees are a
// few levels deep, so this only stops a crafted chain early.
const maxDepth = 4096

// walk checks the subtree at page id, whose keys must lie in
// [lo, hi) (nil: unbounded).
func (c *checker) walk(id uint64, lo, hi []byte, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("page %d: nested too deep", id)
	}
	b, err := c.page(id, boltBranchPage|boltLeafPage)
	if err != nil {
		return err
	}
	// b is c.buf, reused by the pages below: keep what is needed.
	b = bytes.Clone(b)
	if binary.NativeEndian.Uint16(b[8:])&boltBranchPage != 0 {
		return c.branch(id, b, lo, hi, depth)
	}
	return c.leaf(id, b, lo, hi, depth)
}

// elems returns the count of elements of page b after checking they fit.
func elems(id uint64, b []byte) (int, error) {
	n := int(binary.NativeEndian.Uint16(b[10:]))
	if boltPageHeader+n*boltElemSize > len(b) {
		return 0, fmt.Errorf("page %d: %d elements do not fit", id, n)
	}
	return n, nil
}

// pageSpan returns b[off+pos : off+pos+n], checked.
func pageSpan(id uint64, b []byte, off int, pos, n uint32) ([]byte, error) {
	start := uint64(off) + uint64(pos)
	end := start + uint64(n)
	if end > uint64(len(b)) {
		return nil, fmt.Errorf("page %d: element data past the page", id)
	}
	return b[start:end], nil
}

func inBounds(k, lo, hi []byte) bool {
	return (lo == nil || bytes.Compare(k, lo) >= 0) && (hi == nil || bytes.Compare(k, hi) < 0)
}

func (c *checker) branch(id uint64, b, lo, hi []byte, depth int) error {
	n, err := elems(id, b)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("page %d: empty branch", id)
	}
	ne := binary.NativeEndian
	keys := make([][]byte, n)
	kids := make([]uint64, n)
	for i := range n {
		off := boltPageHeader + i*boltElemSize
		k, err := pageSpan(id, b, off, ne.Uint32(b[off:]), ne.Uint32(b[off+4:]))
		if err != nil {
			return err
		}
		if i > 0 && bytes.Compare(keys[i-1], k) >= 0 {
			return fmt.Errorf("page %d: keys out of order", id)
		}
		if !inBounds(k, lo, hi) {
			return fmt.Errorf("page %d: key outside its parent's bounds", id)
		}
		keys[i], kids[i] = k, ne.Uint64(b[off+8:])
	}
	for i, kid := range kids {
		klo, khi := keys[i], hi // as bbolt's own check (tx_check.go)
		if i+1 < n {
			khi = keys[i+1]
		}
		if err := c.walk(kid, klo, khi, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) leaf(id uint64, b, lo, hi []byte, depth int) error {
	n, err := elems(id, b)
	if err != nil {
		return err
	}
	ne := binary.NativeEndian
	var prev []byte
	for i := range n {
		off := boltPageHeader + i*boltElemSize
		flags := ne.Uint32(b[off:])
		pos, ksize, vsize := ne.Uint32(b[off+4:]), ne.Uint32(b[off+8:]), ne.Uint32(b[off+12:])
		kv, err := pageSpan(id, b, off, pos, ksize+vsize)
		if err != nil || uint64(ksize)+uint64(vsize) > uint64(len(b)) {
			return fmt.Errorf("page %d: element data past the page", id)
		}
		k, v := kv[:ksize], kv[ksize:]
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("page %d: keys out of order", id)
		}
		if !inBounds(k, lo, hi) {
			return fmt.Errorf("page %d: key outside its parent's bounds", id)
		}
		prev = k
		if flags&^boltBucketLeaf != 0 {
			return fmt.Errorf("page %d: element flags %#x", id, flags)
		}
		if flags&boltBucketLeaf == 0 {
			continue
		}
		if len(v) < 16 {
			return fmt.Errorf("page %d: bucket header of %d bytes", id, len(v))
		}
		if root := ne.Uint64(v); root != 0 {
			if err := c.walk(root, nil, nil, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := c.inline(id, v[16:], depth+1); err != nil {
			return err
		}
	}
	return nil
}

// inline checks an inline bucket's page, stored in its parent's value.
func (c *checker) inline(parent uint64, b []byte, depth int) error {
	if len(b) < boltPageHeader {
		return fmt.Errorf("page %d: inline bucket of %d bytes", parent, len(b))
	}
	if flags := binary.NativeEndian.Uint16(b[8:]); flags != boltLeafPage {
		return fmt.Errorf("page %d: inline bucket with flags %#x", parent, flags)
	}
	if depth > maxDepth {
		return fmt.Errorf("page %d: nested too deep", parent)
	}
	return c.leaf(parent, b, nil, nil, depth)
}
