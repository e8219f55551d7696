package invite_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/invite"
	"github.com/ephemera-im/ephemera/net/wire"
)

var (
	t0      = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	expires = t0.Add(7 * 24 * time.Hour)
)

func fill(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func mustIdentity(t testing.TB, start byte, name string) *identity.Identity {
	t.Helper()
	id, err := identity.FromSeed(fill(start, identity.SeedSize), name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func params(oneTime bool) invite.Params {
	return invite.Params{
		RelayURL:  "wss://relay.example.org",
		Mailbox:   wire.MailboxID(fill(0x40, 32)),
		SendToken: wire.Key32(fill(0x60, 32)),
		Expires:   expires,
		OneTime:   oneTime,
	}
}

func mustInvite(t testing.TB, id *identity.Identity, p invite.Params) *invite.Invite {
	t.Helper()
	inv, err := invite.New(id, p, bytes.NewReader(fill(0x80, invite.IDSize)))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}
