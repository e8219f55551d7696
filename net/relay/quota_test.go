package relay

import (
	"testing"

	"github.com/ephemera-im/ephemera/net/wire"
)

// TestPrekeysChargedToQuota: one-time keys count against the mailbox's
// byte quota with its envelopes. Before, a mailbox could hold 5,000
// keys of 16 KiB (78 MiB) whatever its quota.
func TestPrekeysChargedToQuota(t *testing.T) {
	const kib = 1 << 10
	e := newEnv(t, withLimits(func(l *Limits) { l.MailboxMaxBytes = 64 * kib }))
	o := newOwner(t)
	c := e.pipe()
	o.register(c, wire.Key32{})
	keys := func(n int) [][]byte {
		k := make([][]byte, n)
		for i := range k {
			k[i] = make([]byte, 16*kib)
		}
		return k
	}
	if got := mustType[*wire.PrekeysStored](c, &wire.PutPrekeys{Mailbox: o.id, Bundle: []byte("b"), OneTime: keys(3)}); got.Remaining != 3 {
		t.Fatalf("PutPrekeys: %d held, want 3", got.Remaining)
	}
	c.wantError(&wire.PutPrekeys{Mailbox: o.id, OneTime: keys(1)}, wire.CodeQuota)
	// Envelopes share the budget: 48 KiB of keys leave under 16 KiB.
	c.wantError(&wire.Send{Mailbox: o.id, Envelope: make([]byte, 16*kib)}, wire.CodeQuota)
	// A claim frees a key's bytes.
	mustType[*wire.Prekey](c, &wire.ClaimPrekey{Mailbox: o.id})
	c.send(o.id, wire.Key32{}, string(make([]byte, 16*kib)))
}
