package messenger

import (
	"context"
	"slices"
	"time"

	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/ephemera-im/ephemera/core/links"
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
		return m.holdClaim(t, c.ID, pc)
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

// Claims held for messages that have not arrived are bounded per contact:
// at most maxHeldMessages messages' claims (the oldest go first), each
// kept at most heldClaimTTL, pruned when a claim arrives, at start-up and
// hourly (with the seen sets). A claim whose message comes later than
// that is dropped; the message shows without the preview.
const (
	maxHeldMessages = 32
	heldClaimTTL    = 24 * time.Hour
	// setHeldIndex names, per contact, the messages with held claims
	// and when the first claim came: []heldRef.
	setHeldIndex = "claims/idx/"
	// setHeldScopes lists the contacts with a held-claims index.
	setHeldScopes = "claims/scopes"
)

type heldRef struct {
	Message string `json:"mid"`
	Unix    int64  `json:"t"`
}

// holdClaim keeps pc for a message of contact's that has not arrived.
func (m *Messenger) holdClaim(t *vault.Tx, contact string, pc previewClaim) error {
	idx, err := pruneHeld(t, contact, m.now())
	if err != nil {
		return err
	}
	key := setHeldClaims + contact + "/" + pc.Message
	held, err := getJSON[[]Preview](t.Setting(key))
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	if len(held) >= maxClaims {
		return nil
	}
	if !slices.ContainsFunc(idx, func(h heldRef) bool { return h.Message == pc.Message }) {
		for len(idx) >= maxHeldMessages {
			if err := t.DeleteSetting(setHeldClaims + contact + "/" + idx[0].Message); err != nil {
				return err
			}
			idx = idx[1:]
		}
		idx = append(idx, heldRef{Message: pc.Message, Unix: m.now().Unix()})
	}
	if err := putHeldIndex(t, contact, idx); err != nil {
		return err
	}
	return t.PutSetting(key, mustJSON(append(held, pc.Preview)))
}

// pruneHeld drops contact's held claims older than heldClaimTTL and
// returns the index of those left.
func pruneHeld(t *vault.Tx, contact string, now time.Time) ([]heldRef, error) {
	idx, err := getJSON[[]heldRef](t.Setting(setHeldIndex + contact))
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cut := now.Add(-heldClaimTTL).Unix()
	kept := idx[:0]
	for _, h := range idx {
		if h.Unix < cut {
			if err := t.DeleteSetting(setHeldClaims + contact + "/" + h.Message); err != nil {
				return nil, err
			}
			continue
		}
		kept = append(kept, h)
	}
	if len(kept) != len(idx) {
		if err := putHeldIndex(t, contact, kept); err != nil {
			return nil, err
		}
	}
	return kept, nil
}

// putHeldIndex stores contact's index (deleting it when empty) and keeps
// the list of contacts with one.
func putHeldIndex(t *vault.Tx, contact string, idx []heldRef) error {
	scopes, err := getJSON[[]string](t.Setting(setHeldScopes))
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	i := slices.Index(scopes, contact)
	if len(idx) == 0 {
		if i >= 0 {
			if err := t.PutSetting(setHeldScopes, mustJSON(slices.Delete(scopes, i, i+1))); err != nil {
				return err
			}
		}
		if err := t.DeleteSetting(setHeldIndex + contact); err != nil && !errors.Is(err, vault.ErrNotFound) {
			return err
		}
		return nil
	}
	if i < 0 {
		if err := t.PutSetting(setHeldScopes, mustJSON(append(scopes, contact))); err != nil {
			return err
		}
	}
	return t.PutSetting(setHeldIndex+contact, mustJSON(idx))
}

// pruneAllHeld prunes every contact's held claims.
func pruneAllHeld(t *vault.Tx, now time.Time) error {
	scopes, err := getJSON[[]string](t.Setting(setHeldScopes))
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, contact := range slices.Clone(scopes) {
		if _, err := pruneHeld(t, contact, now); err != nil {
			return err
		}
	}
	return nil
}

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
	if err := t.DeleteSetting(key); err != nil {
		return nil, err
	}
	idx, err := getJSON[[]heldRef](t.Setting(setHeldIndex + contact))
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return nil, err
	}
	idx = slices.DeleteFunc(idx, func(h heldRef) bool { return h.Message == rec.ID })
	return out, putHeldIndex(t, contact, idx)
}

// verifyPreview applies the receiver's rules (core/links.VerifyPreviews)
// to one claim about a message whose text is text: it is kept only if its
// URL is a link of the text; the domain shown and the risk come from the
// receiver's own analysis of that link, never from the claim.
func verifyPreview(text string, p Preview) (Preview, bool) {
	checked := links.VerifyPreviews(nil, text, []links.Preview{{URL: p.URL, Title: p.Title,
		Description: p.Description, SiteName: p.SiteName, Image: p.Image, ImageType: imageType(p.Image)}})
	if len(checked) != 1 {
		return Preview{}, false
	}
	c := checked[0]
	out := Preview{URL: c.Preview.URL, Title: c.Preview.Title, Description: c.Preview.Description,
		SiteName: c.Preview.SiteName, Image: c.Preview.Image,
		Domain: c.Verdict.Host.String(), Risk: c.Verdict.Risk.String()}
	for _, r := range c.Verdict.Reasons {
		out.Reasons = append(out.Reasons, string(r.Code)+": "+r.Message)
	}
	return out, true
}

func imageType(b []byte) string {
	switch {
	case len(b) == 0:
		return ""
	case len(b) > 3 && b[0] == 0xFF && b[1] == 0xD8:
		return "image/jpeg"
	}
	return "image/png"
}

// fetchPreviews fetches the sender's preview of the first link of text
// when the profile generates previews; failures just mean no preview.
func (m *Messenger) fetchPreviews(ctx context.Context, text string) []Preview {
	s := m.Settings()
	set := links.Settings{Previews: s.LinkPreviews, Interstitial: s.Interstitial}
	l, ok := set.PreviewTarget(text)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	f := &links.Fetcher{SOCKS5: m.cfg.SOCKS5}
	p, err := f.Preview(ctx, l.URL)
	if err != nil {
		m.log.Debug("no link preview", "err", err)
		return nil
	}
	return []Preview{{URL: l.URL, Title: p.Title, Description: p.Description, SiteName: p.SiteName, Image: p.Image}}
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
