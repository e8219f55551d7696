package wire_test

import (
	"bytes"
	"testing"

	"github.com/ephemera-im/ephemera/net/wire"
)

func TestAuthMessageLayout(t *testing.T) {
	relay, challenge, owner, th := key(0x10), key(0x20), key(0x40), key(0x60)
	mailbox := mailboxID(0x30)
	msg := wire.AuthMessage(wire.OpRegister, relay, challenge, mailbox, owner, th)

	const ctx = "ephemera relay mailbox auth v1"
	if wire.AuthContext != ctx {
		t.Fatalf("AuthContext = %q, want %q", wire.AuthContext, ctx)
	}
	want := []byte(ctx)
	want = append(want, 0x00, 0x01)
	for _, k := range [][32]byte{relay, challenge, mailbox, owner, th} {
		want = append(want, k[:]...)
	}
	if !bytes.Equal(msg, want) {
		t.Fatalf("AuthMessage:\n got %x\nwant %x", msg, want)
	}
	if len(msg) != 30+2+5*32 {
		t.Fatalf("length %d, want 192", len(msg))
	}
	if wire.OpRegister != 1 || wire.OpAuth != 2 {
		t.Fatalf("ops %d, %d; want 1, 2", wire.OpRegister, wire.OpAuth)
	}

	auth := wire.AuthMessage(wire.OpAuth, relay, challenge, mailbox, owner, wire.Key32{})
	if auth[31] != wire.OpAuth || !bytes.Equal(auth[:31], msg[:31]) || !bytes.Equal(auth[160:], make([]byte, 32)) {
		t.Fatalf("Auth message: %x", auth)
	}
	// Every input changes the signed bytes.
	base := string(msg)
	for name, other := range map[string][]byte{
		"op":        wire.AuthMessage(wire.OpAuth, relay, challenge, mailbox, owner, th),
		"relay":     wire.AuthMessage(wire.OpRegister, key(0x11), challenge, mailbox, owner, th),
		"challenge": wire.AuthMessage(wire.OpRegister, relay, key(0x21), mailbox, owner, th),
		"mailbox":   wire.AuthMessage(wire.OpRegister, relay, challenge, mailboxID(0x31), owner, th),
		"owner":     wire.AuthMessage(wire.OpRegister, relay, challenge, mailbox, key(0x41), th),
		"tokenHash": wire.AuthMessage(wire.OpRegister, relay, challenge, mailbox, owner, key(0x61)),
	} {
		if string(other) == base {
			t.Errorf("changing %s leaves the signed bytes unchanged", name)
		}
	}
}
