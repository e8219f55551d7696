// Package session is Ephemera's end-to-end session layer: prekeys, a
// PQXDH-style hybrid handshake (X25519 + ML-KEM-768) and a post-quantum
// Double Ratchet with header encryption. It is pure Go on the standard
// library and golang.org/x/crypto, does no I/O and keeps no clocks of its
// own: time and randomness are passed in.
//
// The construction, every label, encoding and limit, and the security
// argument are in docs/E2E-SESSION.md. In short:
//
//   - Prekeys (prekey.go). NewPrekeys makes a signed X25519 prekey, a
//     signed ML-KEM-768 last-resort prekey and one-time entries (an X25519
//     key plus a signed ML-KEM-768 key each). The Upload fits the relay's
//     PutPrekeys: Bundle (1,434 bytes), LastResort (a 6-byte marker naming
//     the bundle's last-resort KEM key) and OneTime entries (1,299 bytes
//     each); all under net/wire.MaxPrekeySize. PrekeyStore keeps the
//     private halves, serialises to bytes, rotates the signed prekeys
//     (Rotate, keeping replaced ones for GracePeriod) and deletes one-time
//     keys once a handshake that used them has decrypted.
//   - Handshake (handshake.go). Initiate(ours, peer, bundle, entry, rand)
//     checks that the bundle is peer's and that every signature verifies,
//     computes DH1..DH3 (DH4 with a one-time X25519 key) and an ML-KEM-768
//     encapsulation (to the one-time KEM key, else the last-resort one),
//     and derives SK with HKDF-SHA-256. The initiator's messages carry the
//     handshake header until the first reply ("prekey messages").
//     Respond(ours, store, msg, ad, rand) derives the same keys, decrypts
//     the message and only then consumes the one-time keys.
//   - Ratchet (ratchet.go). Signal's Double Ratchet with header
//     encryption, augmented as in SimpleX's post-quantum double ratchet:
//     every DH ratchet step also runs an ML-KEM-768 encapsulation whose
//     shared secret enters the root KDF with the DH output, the KEM key and
//     ciphertext travelling in the encrypted header. Decrypt is
//     all-or-nothing: it works on a scratch copy and commits only after the
//     AEAD verifies, so a forged, replayed or corrupted message leaves the
//     state byte-for-byte unchanged. At most MaxSkipped (2,000) skipped
//     message keys are kept; a message that would skip more than MaxSkip
//     (25,000) is refused.
//   - State (state.go). Session and PrekeyStore serialise with
//     MarshalBinary/UnmarshalBinary (versioned, size-limited). The bytes
//     hold secret keys: the vault must seal them.
//
// A Session or PrekeyStore is not safe for concurrent use; their zero
// values are not usable.
//
// # Randomness
//
// Every key this package generates comes from the io.Reader passed in
// (X25519 scalars and ML-KEM-768 seeds are read from it), so a seeded
// reader gives reproducible keys. ML-KEM encapsulation has no
// caller-supplied randomness in Go's API outside mlkemtest (which is for
// known-answer tests only), so it uses the standard library's generator;
// the vectors in testdata/e2e/session-*.json pin it with
// testing/cryptotest.SetGlobalRandom.
//
// # Performance
//
// Measured on the 2-core development VM (AMD EPYC, Go 1.26.8), shared
// with other jobs: wall-clock figures vary by ±25% with load; cpu-ns
// (process CPU time from getrusage) is steadier. Command:
//
//	go test -run XXX -bench . -benchtime 2s -count 3 ./core/session/
//
//	BenchmarkSteadyState1KiB  ratchet encrypt+decrypt, 1 KiB   13.7–16.3 µs
//	                          bare ChaCha20-Poly1305 seal+open  2.0–2.5 µs
//	                          ratio x-aead (same run)            6.5–6.9×  (target ≤ 10×)
//	BenchmarkRatchetStep      one DH+ML-KEM ratchet step         0.56–0.59 ms quiet,
//	                          (send half + receive half)         up to 0.79 ms under load (target < 1 ms)
//	BenchmarkHandshake        Initiate + first message + Respond 1.51–1.56 ms quiet (cpu 1.52–1.58 ms),
//	                          with one-time X25519 and KEM keys  up to 2.1 ms under load (target < 2 ms)
//
// Where the steady-state time goes: each message carries the ML-KEM-768
// encapsulation key and ciphertext in its encrypted header (2,272 of the
// header's 2,313 bytes, as SimpleX's design requires so that any message
// of a chain can start the receiver's ratchet step), so besides the 1 KiB
// body each direction seals or opens a 2.3 KiB header with
// XChaCha20-Poly1305 and authenticates the encrypted header again as the
// body's associated data: about 4.5× the AEAD bytes of the bare case. Two
// HMAC-SHA-256 per chain step, the header-key trial and allocation of the
// output make up the rest. A ratchet step is dominated by X25519 (three
// scalar multiplications) and ML-KEM-768 key generation, encapsulation
// and decapsulation.
package session
