package messenger

import (
	"encoding/hex"
	"encoding/json"
	"strings"

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
	if err != nil || vm.Conversation != c.ID || rec.Outgoing || rec.Kind != KindText {
		return nil
	}
	p, ok := verifyPreview(rec.Text, pc.Preview)
	if !ok {
		m.log.Info("dropped a link preview that does not match the message")
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

// verifyPreview keeps a claimed preview only if its URL appears in the
// message text; what the receiver shows as its domain comes from there.
func verifyPreview(text string, p Preview) (Preview, bool) {
	if p.URL == "" || !strings.Contains(text, p.URL) {
		return Preview{}, false
	}
	p.Domain, p.Risk, p.Reasons = "", "", nil
	return p, true
}
