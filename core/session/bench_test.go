package session

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/internal/procstat"
	"golang.org/x/crypto/chacha20poly1305"
)

// BenchmarkSteadyState1KiB measures, in one run, a steady-state ratchet
// encrypt+decrypt of 1 KiB (symmetric step, header encryption, same
// chain) and a bare ChaCha20-Poly1305 seal+open of the same 1 KiB, and
// reports the ratio as "x-aead".
func BenchmarkSteadyState1KiB(b *testing.B) {
	w := newWorld(b, 50, 0)
	a, bob := w.pair(b, nil)
	recv(b, a, send(b, bob, "turn"), "turn") // Alice on a steady accepted chain
	recv(b, bob, send(b, a, "x"), "x")
	a.SetRand(rand.Reader)
	msg := make([]byte, 1024)
	key := make([]byte, 32)
	aead, _ := chacha20poly1305.New(key)
	nonce := make([]byte, chacha20poly1305.NonceSize)
	buf := make([]byte, 0, 1024+16)
	var tRatchet, tAEAD time.Duration
	b.SetBytes(1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		ct := aead.Seal(buf[:0], nonce, msg, nil)
		if _, err := aead.Open(ct[:0], nonce, ct, nil); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		m, err := a.Encrypt(msg, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := bob.Decrypt(m, nil); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		tAEAD += t1.Sub(t0)
		tRatchet += t2.Sub(t1)
	}
	b.ReportMetric(float64(tRatchet.Nanoseconds())/float64(b.N), "ns-ratchet/op")
	b.ReportMetric(float64(tAEAD.Nanoseconds())/float64(b.N), "ns-aead/op")
	b.ReportMetric(float64(tRatchet)/float64(tAEAD), "x-aead")
}

// BenchmarkRatchetStep measures one DH ratchet step with ML-KEM: a message
// on a new chain, decrypted by the receiver (X25519 DH, ML-KEM-768
// decapsulation, new X25519 and ML-KEM keys, encapsulation, X25519 DH,
// two root KDFs). Each iteration is two steps (a ping and a pong);
// ns/step is reported.
func BenchmarkRatchetStep(b *testing.B) {
	w := newWorld(b, 51, 0)
	a, bob := w.pair(b, nil)
	a.SetRand(rand.Reader)
	bob.SetRand(rand.Reader)
	msg := make([]byte, 64)
	b.ResetTimer()
	c0 := int64(procstat.CPUTime())
	for i := 0; i < b.N; i++ {
		m, _ := bob.Encrypt(msg, nil)
		if _, err := a.Decrypt(m, nil); err != nil {
			b.Fatal(err)
		}
		m, _ = a.Encrypt(msg, nil)
		if _, err := bob.Decrypt(m, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/step")
	reportCPU(b, c0, 2*b.N, "cpu-ns/step")
}

// BenchmarkHandshake measures a full handshake with one-time X25519 and
// ML-KEM keys: Initiate (bundle and entry parsing, three signature checks,
// four DH, encapsulation, first message) and Respond (four DH,
// decapsulation, first ratchet step, decryption).
func BenchmarkHandshake(b *testing.B) {
	w := newWorld(b, 52, 0)
	msg := []byte("hello")
	var cpu int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		entries, err := w.store.AddOneTime(w.bob, w.r, t0, 1)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0 := int64(procstat.CPUTime())
		a, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, entries[0], rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		m, _ := a.Encrypt(msg, nil)
		if _, _, err := Respond(w.bob, w.store, m, nil, rand.Reader); err != nil {
			b.Fatal(err)
		}
		cpu += int64(procstat.CPUTime()) - c0
	}
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
}

// reportCPU reports process CPU time since c0 per unit (0 where the
// platform does not tell).
func reportCPU(b *testing.B, c0 int64, n int, unit string) {
	if c := int64(procstat.CPUTime()); c0 > 0 && c > c0 {
		b.ReportMetric(float64(c-c0)/float64(n), unit)
	}
}
