package messenger

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// ctlPreview carries the sender's preview of a link in a text message it
// sent just before: Data is a previewClaim. The receiver keeps it only if
// its URL is a link of that message's body.
const ctlPreview message.ControlType = 18

type previewClaim struct {
	Message string  `json:"mid"`
	Preview Preview `json:"p"`
}

// handlePreview attaches a claimed preview to the message it names, after
// checking it against the message's own text.
func (m *Messenger) handlePreview(t *vault.Tx, r *received, c *contactRec, ctl *message.Control) error {
	var pc previewClaim
	if json.Unmarshal(ctl.Data, &pc) != nil {
		return nil
	}
	if _, err := hex.DecodeString(pc.Message); err != nil {
		return nil
	}
	vm, rec, err := messageByID(t, pc.Message)
	if errors.Is(err, ErrUnknownMessage) {
		// Envelopes can overtake each other: keep the claim (a few per
		// message) until its message arrives.
		held, err := getJSON[[]Preview](t.Setting(setHeldClaims + c.ID + "/" + pc.Message))
		if err != nil && !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		if len(held) >= maxClaims {
			return nil
		}
		return t.PutSetting(setHeldClaims+c.ID+"/"+pc.Message, mustJSON(append(held, pc.Preview)))
	}
	if err != nil || vm.Conversation != c.ID || rec.Outgoing || rec.Kind != KindText {
		return nil
	}
	p, ok := verifyPreview(rec.Text, pc.Preview)
	if !ok {
		m.log.Info("dropped a link preview that does not match the message")
		return nil
	}
	if len(rec.Previews) >= maxClaims {
		return nil
	}
	rec.Previews = append(rec.Previews, p)
	vm.Body = mustJSON(rec)
	if err := t.UpdateMessage(vm); err != nil {
		return nil
	}
	r.events = append(r.events, MessageUpdated{Message: publicMessage(vm, rec)})
	return nil
}

// setHeldClaims prefixes claims waiting for their message (contact/id).
const setHeldClaims = "claims/"

// maxClaims bounds the previews kept for one message.
const maxClaims = 8

// heldClaims returns and forgets the claims that arrived before message
// rec, checked against its text.
func heldClaims(t *vault.Tx, contact string, rec *msgRec) ([]Preview, error) {
	key := setHeldClaims + contact + "/" + rec.ID
	held, err := getJSON[[]Preview](t.Setting(key))
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Preview
	for _, p := range held {
		if v, ok := verifyPreview(rec.Text, p); ok {
			out = append(out, v)
		}
	}
	return out, t.DeleteSetting(key)
}

// verifyPreview keeps a claimed preview only if its URL appears in the
// message text; what the receiver shows as its domain comes from there.
func verifyPreview(text string, p Preview) (Preview, bool) {
	if p.URL == "" || !strings.Contains(text, p.URL) {
		return Preview{}, false
	}
	p.Domain, p.Risk, p.Reasons = "", "", nil
	return p, true
}

// Limits of a preview claim, which must fit a control message.
const (
	maxPreviewTitle = 300
	maxPreviewDesc  = 1000
	maxPreviewImage = 1500
)

// forClaim trims a preview to what a claim carries: capped texts, and the
// image only when it is a small thumbnail.
func (p Preview) forClaim() Preview {
	out := Preview{URL: p.URL, Title: capText(p.Title, maxPreviewTitle),
		Description: capText(p.Description, maxPreviewDesc), SiteName: capText(p.SiteName, maxPreviewTitle)}
	if len(p.Image) <= maxPreviewImage {
		out.Image = p.Image
	}
	return out
}

func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
