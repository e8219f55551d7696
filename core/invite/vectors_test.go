package invite_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"github.com/ephemera-im/ephemera/internal/testvec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/invite"
	"github.com/ephemera-im/ephemera/net/wire"
)

var update = flag.Bool("update", false, "rewrite the test vectors in testdata/e2e from the code")

const vectorDir = "../../testdata/e2e"

// vector is one file testdata/e2e/invite*.json. A valid vector gives the
// inputs of New (identity seed, pseudonym, parameters, the 16 random bytes
// of the invite id) and the binary and text forms; an invalid one gives a
// text and the reason Parse must refuse it at now. Byte strings are hex.
type vector struct {
	Name    string `json:"name"`
	Comment string `json:"comment,omitempty"`
	Valid   bool   `json:"valid"`
	Reason  string `json:"reason,omitempty"` // malformed, checksum, bad-signature, expired, unsupported-version

	IdentitySeed string `json:"identity_seed,omitempty"`
	Pseudonym    string `json:"pseudonym,omitempty"`
	RelayURL     string `json:"relay_url,omitempty"`
	Mailbox      string `json:"mailbox,omitempty"`
	SendToken    string `json:"send_token,omitempty"`
	InviteID     string `json:"invite_id,omitempty"`
	Expires      int64  `json:"expires,omitempty"` // Unix seconds
	OneTime      bool   `json:"one_time,omitempty"`

	Now    int64  `json:"now"` // Unix seconds Parse is run at
	Binary string `json:"binary,omitempty"`
	Text   string `json:"text"`
}

var reasons = map[string]error{
	"malformed":           invite.ErrMalformed,
	"checksum":            invite.ErrChecksum,
	"bad-signature":       invite.ErrBadSignature,
	"expired":             invite.ErrExpired,
	"unsupported-version": invite.ErrUnsupportedVersion,
	"old-version":         invite.ErrOldVersion,
}

func h(b []byte) string { return hex.EncodeToString(b) }

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// make builds the invite a valid vector describes.
func (v vector) make(t *testing.T) *invite.Invite {
	t.Helper()
	id, err := identity.FromSeed(unhex(t, v.IdentitySeed), v.Pseudonym)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := invite.New(id, invite.Params{
		RelayURL:  v.RelayURL,
		Mailbox:   wire.MailboxID(unhex(t, v.Mailbox)),
		SendToken: wire.Key32(unhex(t, v.SendToken)),
		Expires:   time.Unix(v.Expires, 0),
		OneTime:   v.OneTime,
	}, bytes.NewReader(unhex(t, v.InviteID)))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func generate(t *testing.T) []vector {
	base := vector{
		Valid:        true,
		IdentitySeed: h(fill(0x00, 32)),
		Pseudonym:    "Alice",
		RelayURL:     "wss://relay.example.org",
		Mailbox:      h(fill(0x40, 32)),
		SendToken:    h(fill(0x60, 32)),
		InviteID:     h(fill(0x80, 16)),
		Expires:      expires.Unix(),
		Now:          t0.Unix(),
	}
	oneTime := base
	oneTime.Name, oneTime.OneTime = "invite-alice-one-time", true
	oneTime.Comment = "identity seed as in identity-alice.json; relay URL before normalisation"
	reusable := base
	reusable.Name, reusable.Pseudonym = "invite-bob-reusable", "Bob 🙂"
	reusable.IdentitySeed = h(fill(0x20, 32))
	reusable.RelayURL = "https://relay.example.org:8443/custom/path"

	vs := []vector{oneTime, reusable}
	for i := range vs {
		inv := vs[i].make(t)
		vs[i].Binary = h(inv.Marshal())
		vs[i].Text = inv.String()
	}
	text := vs[0].Text
	bin := unhex(t, vs[0].Binary)
	typo := []byte(text)
	if typo[20] == 'Z' {
		typo[20] = 'Y'
	} else {
		typo[20] = 'Z'
	}
	v3 := bytes.Clone(bin)
	v3[0] = 3
	v1 := bytes.Clone(bin)
	v1[0] = 1
	badSig := bytes.Clone(bin)
	badSig[len(badSig)-1] ^= 1
	expired := vs[0]
	expired.Name, expired.Valid, expired.Reason, expired.Now = "invite-invalid-expired", false, "expired", expires.Unix()
	expired.Comment = "expiry is exclusive: invalid from the expiry second on"
	vs = append(vs,
		expired,
		vector{Name: "invite-invalid-typo", Reason: "checksum", Now: t0.Unix(), Text: string(typo),
			Comment: "one character of invite-alice-one-time changed; the CRC-32C catches it"},
		vector{Name: "invite-invalid-version", Reason: "unsupported-version", Now: t0.Unix(), Text: withCRC(v3)},
		vector{Name: "invite-invalid-old-version", Reason: "old-version", Now: t0.Unix(), Text: withCRC(v1),
			Comment: "version 1: a client of messenger protocol version 1"},
		vector{Name: "invite-invalid-signature", Reason: "bad-signature", Now: t0.Unix(), Text: withCRC(badSig),
			Comment: "last signature bit flipped, checksum recomputed"},
		vector{Name: "invite-invalid-prefix", Reason: "malformed", Now: t0.Unix(), Text: "EPH1:" + text[len(invite.Prefix):]},
	)
	return vs
}

func TestVectors(t *testing.T) {
	if *update {
		for _, v := range generate(t) {
			testvec.Write(t, filepath.Join(vectorDir, v.Name+".json"), v)
		}
	}
	var nValid, nInvalid int
	for _, f := range testvec.Load[vector](t, filepath.Join(vectorDir, "invite*.json")) {
		v := f.V
		t.Run(v.Name, func(t *testing.T) {
			now := time.Unix(v.Now, 0)
			if !v.Valid {
				nInvalid++
				want, ok := reasons[v.Reason]
				if !ok {
					t.Fatalf("unknown reason %q", v.Reason)
				}
				if _, err := invite.Parse(v.Text, now); !errors.Is(err, want) {
					t.Fatalf("Parse: %v, want %v", err, want)
				}
				return
			}
			nValid++
			inv := v.make(t)
			if got := h(inv.Marshal()); got != v.Binary {
				t.Fatalf("binary:\n got %s\nwant %s", got, v.Binary)
			}
			if got := inv.String(); got != v.Text {
				t.Fatalf("text:\n got %s\nwant %s", got, v.Text)
			}
			parsed, err := invite.Parse(v.Text, now)
			if err != nil {
				t.Fatal(err)
			}
			if h(parsed.Marshal()) != v.Binary || parsed.OneTime != v.OneTime || parsed.Expires.Unix() != v.Expires {
				t.Fatal("parsed invite differs")
			}
			if _, err := invite.ParseBinary(unhex(t, v.Binary), now); err != nil {
				t.Fatal(err)
			}
		})
	}
	if nValid == 0 || nInvalid == 0 {
		t.Fatalf("loaded %d valid and %d invalid vectors from %s, want some of each", nValid, nInvalid, vectorDir)
	}
}
