package invite_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/invite"
	"github.com/ephemera-im/ephemera/net/wire"
)

func TestRoundTrip(t *testing.T) {
	alice := mustIdentity(t, 1, "Alice")
	for _, oneTime := range []bool{false, true} {
		inv := mustInvite(t, alice, params(oneTime))
		if inv.RelayURL != "wss://relay.example.org/v1/ws" {
			t.Fatalf("relay URL %q not normalised", inv.RelayURL)
		}
		text := inv.String()
		if !strings.HasPrefix(text, invite.Prefix) {
			t.Fatalf("code %q lacks prefix", text)
		}
		t.Logf("invite code: %d characters, binary %d bytes", len(text), len(inv.Marshal()))
		got, err := invite.Parse(text, t0)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != text || !bytes.Equal(got.Marshal(), inv.Marshal()) {
			t.Fatal("round trip changed the invite")
		}
		if got.OneTime != oneTime || got.Pseudonym != "Alice" || got.Mailbox != params(false).Mailbox ||
			got.SendToken != params(false).SendToken || !got.Expires.Equal(expires) || got.ID != [16]byte(fill(0x80, 16)) {
			t.Fatalf("fields differ: %+v", got)
		}
		if err := got.MatchBundle(alice.Bundle()); err != nil {
			t.Fatal(err)
		}
		bin, err := invite.ParseBinary(inv.Marshal(), t0)
		if err != nil || bin.String() != text {
			t.Fatalf("ParseBinary: %v", err)
		}
		if !bytes.Equal(inv.QRPayload(), []byte(text)) {
			t.Fatal("QR payload is not the text form")
		}
	}
}

func TestShort(t *testing.T) {
	// Keep invites short: a long-but-allowed pseudonym and a typical relay
	// URL stay under 500 characters.
	inv := mustInvite(t, mustIdentity(t, 1, "Alice Liddell"), params(true))
	if n := len(inv.String()); n > 500 {
		t.Fatalf("invite code is %d characters, want at most 500", n)
	}
}

func TestRandomID(t *testing.T) {
	alice := mustIdentity(t, 1, "Alice")
	a, err := invite.New(alice, params(true), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := invite.New(alice, params(true), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID {
		t.Fatal("two invites share an id")
	}
	if _, err := invite.New(alice, params(true), bytes.NewReader(make([]byte, 15))); err == nil {
		t.Fatal("short random reader accepted")
	}
}

func TestNewErrors(t *testing.T) {
	alice := mustIdentity(t, 1, "Alice")
	for name, mod := range map[string]func(p *invite.Params){
		"insecure URL":  func(p *invite.Params) { p.RelayURL = "ws://relay.example.org" },
		"bad scheme":    func(p *invite.Params) { p.RelayURL = "ftp://relay.example.org" },
		"long URL":      func(p *invite.Params) { p.RelayURL = "wss://relay.example.org/" + strings.Repeat("a", 250) },
		"zero mailbox":  func(p *invite.Params) { p.Mailbox = wire.MailboxID{} },
		"zero token":    func(p *invite.Params) { p.SendToken = wire.Key32{} },
		"zero expiry":   func(p *invite.Params) { p.Expires = time.Time{} },
		"expiry > 2106": func(p *invite.Params) { p.Expires = time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		p := params(false)
		mod(&p)
		if _, err := invite.New(alice, p, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestExpiry(t *testing.T) {
	inv := mustInvite(t, mustIdentity(t, 1, "Alice"), params(true))
	text := inv.String()
	for _, c := range []struct {
		now     time.Time
		expired bool
	}{
		{t0, false},
		{expires.Add(-time.Second), false},
		{expires, true},
		{expires.Add(time.Hour), true},
	} {
		_, err := invite.Parse(text, c.now)
		if got := errors.Is(err, invite.ErrExpired); got != c.expired {
			t.Errorf("now %v: error %v, want expired=%v", c.now, err, c.expired)
		}
	}
}

func TestPasteTolerance(t *testing.T) {
	text := mustInvite(t, mustIdentity(t, 1, "Alice"), params(false)).String()
	body := text[len(invite.Prefix):]
	var grouped strings.Builder
	for i, r := range body {
		if i > 0 && i%5 == 0 {
			grouped.WriteString([]string{"-", " ", "\n", "\r\n", "\t"}[i/5%5])
		}
		grouped.WriteRune(r)
	}
	for name, in := range map[string]string{
		"as is":            text,
		"lower case":       strings.ToLower(text),
		"surrounding":      "\n  " + text + " \n",
		"grouped":          "ephemera:" + grouped.String(),
		"prefix spaced":    "Ephemera: " + body,
		"O for 0, l for 1": invite.Prefix + strings.NewReplacer("0", "O", "1", "l").Replace(body),
	} {
		inv, err := invite.Parse(in, t0)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if inv.String() != text {
			t.Errorf("%s: decoded to another invite", name)
		}
	}
}

func TestSingleCharacterTypos(t *testing.T) {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	text := mustInvite(t, mustIdentity(t, 1, "Alice"), params(true)).String()
	n := len(invite.Prefix)
	for i := n; i < len(text); i++ {
		// Every position, with a spread of replacements (all 31 at a few
		// positions); the CRC guarantees detection of any of them.
		for k, r := range alphabet {
			if byte(r) == text[i] || (i%50 != 0 && (i+k)%6 != 0) {
				continue
			}
			typo := text[:i] + string(r) + text[i+1:]
			if _, err := invite.Parse(typo, t0); !errors.Is(err, invite.ErrChecksum) {
				t.Fatalf("position %d %c→%c: %v, want ErrChecksum", i, text[i], r, err)
			}
		}
		// Swapped neighbours, a dropped and a doubled character.
		if i+1 < len(text) && text[i] != text[i+1] {
			swap := text[:i] + string(text[i+1]) + string(text[i]) + text[i+2:]
			if _, err := invite.Parse(swap, t0); !errors.Is(err, invite.ErrChecksum) {
				t.Fatalf("swap at %d: %v, want ErrChecksum", i, err)
			}
		}
		if _, err := invite.Parse(text[:i]+text[i+1:], t0); !errors.Is(err, invite.ErrChecksum) {
			t.Fatalf("drop at %d: %v, want ErrChecksum", i, err)
		}
		if _, err := invite.Parse(text[:i+1]+text[i:], t0); !errors.Is(err, invite.ErrChecksum) {
			t.Fatalf("double at %d: %v, want ErrChecksum", i, err)
		}
	}
	if _, err := invite.Parse(text[:n+10]+"U"+text[n+11:], t0); !errors.Is(err, invite.ErrChecksum) || !strings.Contains(err.Error(), "mistyped") {
		t.Fatalf("letter U: %v", err)
	}
}

// withCRC returns the text code of arbitrary binary bytes, so tests can reach
// the checks behind the checksum.
func withCRC(b []byte) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b = binary.BigEndian.AppendUint32(bytes.Clone(b), crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	var sb strings.Builder
	var acc, bits uint
	for _, c := range b {
		acc = acc<<8 | uint(c)
		bits += 8
		for bits >= 5 {
			sb.WriteByte(alphabet[acc>>(bits-5)&31])
			bits -= 5
		}
	}
	if bits > 0 {
		sb.WriteByte(alphabet[acc<<(5-bits)&31])
	}
	return invite.Prefix + sb.String()
}

// Every changed byte of the binary form is an error and never a panic, by
// either entry point; behind a valid checksum, a change is never reported
// as a typo.
func TestTamperEveryByte(t *testing.T) {
	alice := mustIdentity(t, 1, "Alice")
	inv := mustInvite(t, alice, params(true))
	bin := inv.Marshal()
	if withCRC(bin) != inv.String() {
		t.Fatal("test encoder disagrees with String")
	}
	for i := range bin {
		for _, x := range []byte{0x01 << (i % 8)} {
			m := bytes.Clone(bin)
			m[i] ^= x
			_, err := invite.ParseBinary(m, t0)
			if err == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, x)
			}
			_, err2 := invite.Parse(withCRC(m), t0)
			if err2 == nil || errors.Is(err2, invite.ErrChecksum) {
				t.Fatalf("byte %d ^ %#x with a valid checksum: %v", i, x, err2)
			}
		}
	}
	for n := range len(bin) {
		if _, err := invite.ParseBinary(bin[:n], t0); err == nil {
			t.Fatalf("truncated to %d accepted", n)
		}
	}
}

func TestErrors(t *testing.T) {
	alice := mustIdentity(t, 1, "Alice")
	inv := mustInvite(t, alice, params(true))
	bin := inv.Marshal()
	sigOff := len(bin) - ed25519.SignatureSize
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(bin)) }
	resign := func(b []byte) []byte {
		return append(b[:sigOff:sigOff], signAs(alice, b[:sigOff])...)
	}
	cases := []struct {
		name string
		text string
		want error
	}{
		{"empty", "", invite.ErrMalformed},
		{"no prefix", inv.String()[len(invite.Prefix):], invite.ErrMalformed},
		{"other prefix", "EPHEMERO:" + inv.String()[len(invite.Prefix):], invite.ErrMalformed},
		{"too long", invite.Prefix + strings.Repeat("A", invite.MaxText), invite.ErrMalformed},
		{"longer than any invite", invite.Prefix + strings.Repeat("A", 2000), invite.ErrMalformed},
		{"prefix only", invite.Prefix, invite.ErrChecksum},
		{"version 3", withCRC(mod(func(b []byte) []byte { b[0] = 3; return b })), invite.ErrUnsupportedVersion},
		{"version 1", withCRC(mod(func(b []byte) []byte { b[0] = 1; return b })), invite.ErrOldVersion},
		{"unknown flag", withCRC(resign(mod(func(b []byte) []byte { b[1] |= 0x80; return b }))), invite.ErrMalformed},
		{"bad signature", withCRC(mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })), invite.ErrBadSignature},
		{"changed mailbox", withCRC(mod(func(b []byte) []byte { b[30] ^= 1; return b })), invite.ErrBadSignature},
		{"cleared one-time flag", withCRC(mod(func(b []byte) []byte { b[1] = 0; return b })), invite.ErrBadSignature},
		{"extended expiry", withCRC(mod(func(b []byte) []byte { b[18]++; return b })), invite.ErrBadSignature},
		{"trailing byte", withCRC(append(bytes.Clone(bin), 0)), invite.ErrMalformed},
		{"truncated", withCRC(bin[:len(bin)-1]), invite.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := invite.Parse(c.text, t0)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// The sentinels are distinct.
	all := []error{invite.ErrMalformed, invite.ErrChecksum, invite.ErrBadSignature, invite.ErrExpired, invite.ErrUnsupportedVersion, invite.ErrOldVersion}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Fatalf("%v is %v", a, b)
			}
		}
	}
}

// signAs signs an invite body as identity.Sign does for invites.
func signAs(id *identity.Identity, body []byte) []byte {
	return id.Sign("ephemera/invite/v1", body)
}

func TestInvalidFieldsSignedByInviter(t *testing.T) {
	// Even a correctly signed invite is refused when a field breaks the
	// rules: an inviter's buggy or malicious client cannot smuggle them in.
	alice := mustIdentity(t, 1, "Alice")
	good := mustInvite(t, alice, params(false))
	for name, mod := range map[string]func(inv *invite.Invite){
		"non-normal URL": func(inv *invite.Invite) { inv.RelayURL = "https://relay.example.org" },
		"insecure URL":   func(inv *invite.Invite) { inv.RelayURL = "ws://relay.example.org/v1/ws" },
		"bad pseudonym":  func(inv *invite.Invite) { inv.Pseudonym = "a\u202eb" },
		"zero DH key":    func(inv *invite.Invite) { inv.DHKey = make([]byte, 32) },
		"zero mailbox":   func(inv *invite.Invite) { inv.Mailbox = wire.MailboxID{} },
		"zero token":     func(inv *invite.Invite) { inv.SendToken = wire.Key32{} },
	} {
		inv := *good
		mod(&inv)
		bin := inv.Marshal()
		body := bin[:len(bin)-ed25519.SignatureSize]
		bin = append(bytes.Clone(body), signAs(alice, body)...)
		if _, err := invite.ParseBinary(bin, t0); !errors.Is(err, invite.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestMatchBundle(t *testing.T) {
	alice, mallory := mustIdentity(t, 1, "Alice"), mustIdentity(t, 99, "Alice")
	inv := mustInvite(t, alice, params(false))
	renamed, err := alice.WithPseudonym("Alicia")
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.MatchBundle(renamed.Bundle()); err != nil {
		t.Fatalf("renamed inviter: %v", err)
	}
	if err := inv.MatchBundle(mallory.Bundle()); !errors.Is(err, invite.ErrBundleMismatch) {
		t.Fatalf("other identity: %v", err)
	}
	// Alice's keys with Mallory's envelope key: signature fails first.
	b := alice.Bundle()
	b.EnvelopeKey = mallory.Bundle().EnvelopeKey
	if err := inv.MatchBundle(b); !errors.Is(err, invite.ErrBundleMismatch) || !errors.Is(err, identity.ErrBadSignature) {
		t.Fatalf("swapped envelope key: %v", err)
	}
}

func TestQRCodePNG(t *testing.T) {
	inv := mustInvite(t, mustIdentity(t, 1, "Alice"), params(true))
	p, err := inv.QRCodePNG(512)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 512 || b.Dy() != 512 {
		t.Fatalf("image %v, want 512x512", b)
	}
	if _, err := inv.QRCodePNG(40); err == nil {
		t.Fatal("40 pixels accepted for a dense code")
	}
}
