package messenger

import (
	"time"

	"github.com/ephemera-im/ephemera/core/identity"
)

// State is a message's delivery state.
type State string

// Delivery states of outgoing messages, and of incoming ones.
const (
	StateQueued    State = "queued"    // stored in the outbox, not yet accepted by the relay
	StateSent      State = "sent"      // the relay acknowledged it
	StateDelivered State = "delivered" // the contact's device acknowledged it
	StateRead      State = "read"      // the contact read it (only with read receipts)
	StateReceived  State = "received"  // an incoming message
	StateFailed    State = "failed"    // it cannot be sent (e.g. the contact was blocked)
)

// Message kinds in history.
const (
	KindText   = "text"
	KindFile   = "file"
	KindNotice = "notice"
)

// Message is one entry of a conversation, as front ends show it.
type Message struct {
	ID           string    `json:"id"`
	Conversation string    `json:"conversation"` // the contact's id
	Seq          uint64    `json:"seq"`          // position in the conversation, from 1
	From         string    `json:"from"`         // "me" or the contact's id
	Kind         string    `json:"kind"`         // KindText, KindFile or KindNotice
	Text         string    `json:"text"`
	File         *FileInfo `json:"file,omitempty"`
	SentAt       time.Time `json:"sent_at"`
	// ExpiresAt is when the message disappears; zero if it does not (or,
	// for burn-on-read, until it is first shown).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// BurnAfter is the burn-on-read duration counted from first showing.
	BurnAfter time.Duration `json:"burn_after,omitempty"`
	State     State         `json:"state"`
	Previews  []Preview     `json:"previews"`
}

// FileInfo describes a file message.
type FileInfo struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type"`
	// Have is whether the file is stored in the vault (downloaded, or
	// ours): SaveFile and OpenFile work then.
	Have bool `json:"have"`
	// Transfer fields, kept private to the vault's record.
	Relay  string `json:"relay,omitempty"`
	BlobID string `json:"blob,omitempty"`
	Key    []byte `json:"key,omitempty"`
	Hash   []byte `json:"hash,omitempty"`
	Attach string `json:"attach,omitempty"` // vault attachment id
	// Removed lists what the sanitizer removed (sender side).
	Removed []string `json:"removed,omitempty"`
	// Failed says why the download was given up ("" while it may still
	// come); Download tries again.
	Failed FileFailure `json:"failed,omitempty"`
}

// FileFailure is why a received file could not be downloaded.
type FileFailure string

// Reasons a download is given up.
const (
	// FileWrongSize: the relay's blob is not the size the file message
	// names (plus the encryption's overhead).
	FileWrongSize FileFailure = "wrong-size"
	// FileDamaged: the downloaded ciphertext did not match the file
	// message's hash (or the relay broke the protocol) maxDownloadAttempts
	// times in a row.
	FileDamaged FileFailure = "damaged"
	// FileGone: the relay no longer has the blob (expired or deleted).
	FileGone FileFailure = "gone"
)

// Preview is a link preview carried in a message, with the receiver's
// analysis of the link.
type Preview struct {
	URL         string `json:"url"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	SiteName    string `json:"site_name,omitempty"`
	Image       []byte `json:"image,omitempty"`
	// Filled in by the receiver from the message body, never from the
	// sender's claim.
	Domain  string   `json:"domain,omitempty"`
	Risk    string   `json:"risk,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
}

// Contact is a contact as front ends show it.
type Contact struct {
	ID        string `json:"id"`
	Name      string `json:"name"`      // the alias if renamed, else their pseudonym
	Pseudonym string `json:"pseudonym"` // what they call themselves
	Relay     string `json:"relay"`     // where they receive
	Verified  bool   `json:"verified"`
	Blocked   bool   `json:"blocked"`
	Pending   bool   `json:"pending"` // we accepted their invite; their answer has not arrived yet
	// KeyChanged: someone with another identity asked to take over this
	// conversation (IdentityRequest); nothing changes until
	// AcceptKeyChange, and DeclineKeyChange drops the request.
	// RequestPseudonym is what the requester calls itself.
	KeyChanged       bool   `json:"key_changed"`
	RequestPseudonym string `json:"request_pseudonym,omitempty"`
	// OldVersion: their messages come from an older version of Ephemera
	// and are not read (OldVersionIgnored).
	OldVersion bool `json:"old_version,omitempty"`
	// Refused: the inviter refused our use of its invite (RefusedUsed,
	// RefusedExpired); nothing can be sent to this contact.
	Refused   string        `json:"refused,omitempty"`
	Timer     time.Duration `json:"timer"` // the conversation's default expiry
	TimerBurn bool          `json:"timer_burn"`
	Activity  time.Time     `json:"activity"`
	Unread    int           `json:"unread"`
}

func (c *contactRec) public() Contact {
	return Contact{
		ID: c.ID, Name: c.name(), Pseudonym: c.Pseudonym, Relay: c.Theirs.Relay,
		Verified: c.Verified, Blocked: c.Blocked, Pending: c.Initiator && !c.Answered,
		KeyChanged: len(c.KeyChanged) > 0, RequestPseudonym: c.requestPseudonym(), OldVersion: c.OldVersion,
		Refused: c.Refused,
		Timer:   time.Duration(c.Timer) * time.Second, TimerBurn: c.TimerBurn,
		Activity: c.Activity, Unread: c.Unread,
	}
}

// Invite is an invite we made.
type Invite struct {
	ID      string    `json:"id"`
	Code    string    `json:"code"`
	QR      []byte    `json:"-"` // PNG of the code's QR
	OneTime bool      `json:"one_time"`
	Expires time.Time `json:"expires"`
}

func (c *contactRec) requestPseudonym() string {
	if len(c.KeyChanged) == 0 {
		return ""
	}
	b, err := identity.ParseBundle(c.KeyChanged)
	if err != nil {
		return ""
	}
	return b.Pseudonym
}
