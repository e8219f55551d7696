package vault

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The comparisons below run the same operations on the vault and on a
// plain bbolt file holding the same messages unencrypted, keyed in the
// clear by conversation and sequence number, as a store without these
// protections would: one transaction per stored message (a counter
// record and the message), and the newest 50 read with a cursor. Both
// run with NoSync: with fsync on, the disk's sync time would dominate
// both and hide the cost of the encryption.

const benchBody = 200 // bytes of message text

type plainStore struct{ db *bolt.DB }

var plainBucket = []byte("messages")

func newPlain(b *testing.B) *plainStore {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "plain.db"), 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(plainBucket); return err })
	return &plainStore{db}
}

func plainKey(conv string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(conv+"\x00"), seq)
}

func (p *plainStore) add(tx *bolt.Tx, m Message) error {
	bk := tx.Bucket(plainBucket)
	ck := []byte(conv0(m.Conversation))
	var next uint64 = 1
	if c := bk.Get(ck); c != nil {
		next = binary.BigEndian.Uint64(c)
	}
	m.Seq = next
	if err := bk.Put(ck, binary.BigEndian.AppendUint64(nil, next+1)); err != nil {
		return err
	}
	return bk.Put(plainKey(m.Conversation, m.Seq), m.encode())
}

func conv0(c string) string { return "\x01" + c }

// newest decodes each message into a Message (copying its strings and
// body out of bbolt's memory), as the vault does, into a page allocated
// once, as the vault's is.
func (p *plainStore) newest(conv string, n int) ([]Message, error) {
	page := make([]Message, 0, n)
	err := p.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(plainBucket).Cursor()
		prefix := []byte(conv + "\x00")
		var v []byte
		k, _ := c.Seek(plainKey(conv, ^uint64(0)))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(page) < n && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, v = c.Prev() {
			m, err := decodeMessage(v)
			if err != nil {
				return err
			}
			page = append(page, m)
		}
		return nil
	})
	return page, err
}

func benchMessage(i int) Message {
	body := make([]byte, benchBody)
	copy(body, fmt.Sprintf("message %d", i))
	return Message{Conversation: "conversation-1", Time: time.Unix(int64(i), 0), Body: body}
}

// BenchmarkStore10k stores 10,000 messages, one transaction each.
func BenchmarkStore10k(b *testing.B) {
	const n = 10000
	b.Run("vault", func(b *testing.B) {
		b.SetBytes(n * benchBody)
		for b.Loop() {
			b.StopTimer()
			v, err := Create(b.TempDir(), testPass, testOpts())
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for i := range n {
				if _, err := v.AddMessage(benchMessage(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			v.Close()
			b.StartTimer()
		}
	})
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(n * benchBody)
		for b.Loop() {
			b.StopTimer()
			p := newPlain(b)
			b.StartTimer()
			for i := range n {
				if err := p.db.Update(func(tx *bolt.Tx) error { return p.add(tx, benchMessage(i)) }); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkStore10kRatio stores 10,000 messages in each store, one
// transaction each, alternating between them every 100 messages and
// timing each run of 100, and reports both totals and their ratio
// (x-plain), and the ratio of the fastest run of each (x-plain-min):
// like BenchmarkNewest50Ratio, for a machine whose load changes.
func BenchmarkStore10kRatio(b *testing.B) {
	const n, run = 10000, 100
	var tv, tp time.Duration
	minV, minP := time.Duration(1<<62), time.Duration(1<<62)
	for b.Loop() {
		b.StopTimer()
		v, err := Create(b.TempDir(), testPass, testOpts())
		if err != nil {
			b.Fatal(err)
		}
		p := newPlain(b)
		b.StartTimer()
		for i := 0; i < n; i += run {
			t0 := time.Now()
			for j := i; j < i+run; j++ {
				if _, err := v.AddMessage(benchMessage(j)); err != nil {
					b.Fatal(err)
				}
			}
			t1 := time.Now()
			for j := i; j < i+run; j++ {
				if err := p.db.Update(func(tx *bolt.Tx) error { return p.add(tx, benchMessage(j)) }); err != nil {
					b.Fatal(err)
				}
			}
			t2 := time.Now()
			tv += t1.Sub(t0)
			tp += t2.Sub(t1)
			minV, minP = min(minV, t1.Sub(t0)), min(minP, t2.Sub(t1))
		}
		b.StopTimer()
		v.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(tv.Nanoseconds())/float64(b.N), "ns-vault/op")
	b.ReportMetric(float64(tp.Nanoseconds())/float64(b.N), "ns-plain/op")
	b.ReportMetric(float64(tv)/float64(tp), "x-plain")
	b.ReportMetric(float64(minV)/float64(minP), "x-plain-min")
}

// BenchmarkNewest50 reads the newest 50 messages of a 100,000-message
// conversation (the vault by point lookups, plain bbolt by a cursor).
func BenchmarkNewest50(b *testing.B) {
	const n = 100000
	b.Run("vault", func(b *testing.B) {
		v, _ := newVault(b)
		fillConversation(b, v, "conversation-1", n)
		b.SetBytes(50 * benchBody)
		for b.Loop() {
			page, err := v.Messages("conversation-1", 0, 50)
			if err != nil || len(page) != 50 {
				b.Fatal(len(page), err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		p := newPlain(b)
		for i := 0; i < n; i += 10000 {
			p.db.Update(func(tx *bolt.Tx) error {
				for j := i; j < i+10000; j++ {
					if err := p.add(tx, Message{Conversation: "conversation-1", Time: time.Unix(int64(j), 0), Body: fmt.Appendf(nil, "message %d", j)}); err != nil {
						return err
					}
				}
				return nil
			})
		}
		b.SetBytes(50 * benchBody)
		for b.Loop() {
			page, err := p.newest("conversation-1", 50)
			if err != nil || len(page) != 50 {
				b.Fatal(len(page), err)
			}
		}
	})
}

// BenchmarkNewest50Ratio reads the same page from both stores in every
// iteration, one after the other, and reports each one's time and their
// ratio (x-plain): on a shared machine whose load changes from second
// to second, this keeps the two sides under the same conditions.
func BenchmarkNewest50Ratio(b *testing.B) {
	const n = 100000
	v, _ := newVault(b)
	fillConversation(b, v, "conversation-1", n)
	p := newPlain(b)
	for i := 0; i < n; i += 10000 {
		p.db.Update(func(tx *bolt.Tx) error {
			for j := i; j < i+10000; j++ {
				if err := p.add(tx, Message{Conversation: "conversation-1", Time: time.Unix(int64(j), 0), Body: fmt.Appendf(nil, "message %d", j)}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var tv, tp time.Duration
	minV, minP := time.Duration(1<<62), time.Duration(1<<62)
	for b.Loop() {
		t0 := time.Now()
		page, err := v.Messages("conversation-1", 0, 50)
		t1 := time.Now()
		if err != nil || len(page) != 50 {
			b.Fatal(len(page), err)
		}
		pp, err := p.newest("conversation-1", 50)
		t2 := time.Now()
		if err != nil || len(pp) != 50 || pp[0].Seq != page[0].Seq || string(pp[0].Body) != string(page[0].Body) {
			b.Fatal("plain page differs", len(pp), err)
		}
		tv += t1.Sub(t0)
		tp += t2.Sub(t1)
		minV, minP = min(minV, t1.Sub(t0)), min(minP, t2.Sub(t1))
	}
	b.ReportMetric(float64(tv.Nanoseconds())/float64(b.N), "ns-vault/op")
	b.ReportMetric(float64(tp.Nanoseconds())/float64(b.N), "ns-plain/op")
	b.ReportMetric(float64(tv)/float64(tp), "x-plain")
	// The fastest page of each: what the code costs when no other
	// process took the core in the middle of it.
	b.ReportMetric(float64(minV.Nanoseconds()), "min-ns-vault")
	b.ReportMetric(float64(minP.Nanoseconds()), "min-ns-plain")
	b.ReportMetric(float64(minV)/float64(minP), "x-plain-min")
}

// BenchmarkUnlock opens a vault with the default Argon2id parameters.
func BenchmarkUnlock(b *testing.B) {
	dir := b.TempDir()
	v, err := Create(dir, testPass, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	v.Close()
	for b.Loop() {
		v, err := Open(dir, testPass, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		v.Close()
	}
}

// BenchmarkUnlockLarge measures what opening a large vault (100,000
// messages of 200 bytes in 10 conversations) costs besides Argon2id:
// checkDB's walk of every page (check), bbolt's open with the freelist
// rebuilt from a walk of every page as the vault opens it today
// (bolt-rebuild), bbolt's open reading a stored freelist instead
// (bolt-stored), the whole Open with test KDF parameters (open), and a
// Rekey (rekey).
func BenchmarkUnlockLarge(b *testing.B) {
	dir := b.TempDir()
	v, err := Create(dir, testPass, testOpts())
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 200)
	for c := range 10 {
		err := v.Update(func(t *Tx) error {
			for i := range 10000 {
				if _, err := t.AddMessage(Message{Conversation: fmt.Sprint("conversation-", c), Time: time.Unix(int64(i), 0), Body: body}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	v.Close()
	path := filepath.Join(dir, DBFile)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("check", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for b.Loop() {
			if err := checkDB(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bolt-rebuild", func(b *testing.B) {
		for b.Loop() {
			db, err := openDB(path, Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
	})
	b.Run("bolt-stored", func(b *testing.B) {
		stored := filepath.Join(b.TempDir(), DBFile)
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(stored, raw, 0o600); err != nil {
			b.Fatal(err)
		}
		// The first open with freelist sync on writes the freelist.
		o := &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType}
		db, err := bolt.Open(stored, 0o600, o)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
		for b.Loop() {
			db, err := bolt.Open(stored, 0o600, o)
			if err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
	})
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			v, err := Open(dir, testPass, testOpts())
			if err != nil {
				b.Fatal(err)
			}
			v.Close()
		}
	})
	// Rekey of the same vault (test Argon2id parameters; with the
	// default ones add one key derivation, as for an unlock).
	b.Run("rekey", func(b *testing.B) {
		v, err := Open(dir, testPass, testOpts())
		if err != nil {
			b.Fatal(err)
		}
		defer v.Close()
		for b.Loop() {
			if err := v.Rekey(testPass, testPass); err != nil {
				b.Fatal(err)
			}
		}
	})
}
