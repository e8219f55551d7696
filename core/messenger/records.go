package messenger

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ephemera-im/ephemera/core/links"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// The messenger's records are JSON inside the vault's sealed records: the
// vault hides their names and contents, and JSON keeps them readable in
// tests and easy to extend. Names of settings and identities used:
const (
	recProfile         = "profile"          // vault profile record: profileRec
	recIdentity        = "self"             // identity: identity.Identity private encoding
	recPrekeys         = "prekeys"          // identity: session.PrekeyStore
	recPrekeyMailboxes = "prekey-mailboxes" // identity: prekeyGroups (JSON)
	setInvites         = "invites"          // setting: []string of invite ids
	setInvite          = "invite/"          // setting prefix: inviteRec by id
	setSeenEnv         = "seen/e/"          // setting prefix: envelope digests already handled, by owner (seen.go)
	setSeenMsg         = "seen/m/"          // setting prefix: message ids already stored, by contact (seen.go)
	setSeenHS          = "seen/h/"          // setting prefix: ids of first messages of handshakes acted on, by owner (seen.go)
	setMsgIndex        = "msgidx/"          // setting prefix: message id → conversation and seq
	setFile            = "xfer/"            // setting prefix: fileRec by message id
)

// profileRec is the profile record.
type profileRec struct {
	Version   int       `json:"v"`
	Pseudonym string    `json:"pseudonym"`
	RelayURL  string    `json:"relay"` // the relay new mailboxes go to; "" for the embedded one
	Created   time.Time `json:"created"`
	Settings  Settings  `json:"settings"`
	// EmbeddedURL is the URL the embedded relay had when first started;
	// mailboxes stored with it are dialled at its current URL.
	EmbeddedURL string `json:"embedded_url,omitempty"`
}

// Settings are a profile's preferences, kept in the vault (front ends keep
// their own preferences here too, so that nothing about the user sits in a
// plain preferences file). The zero value is the default for each.
type Settings struct {
	// ReadReceipts sends read receipts; off by default.
	ReadReceipts bool `json:"read_receipts"`
	// AutoDownloadLimit is the largest file downloaded without being
	// asked; 0 means DefaultAutoDownloadLimit, negative never.
	AutoDownloadLimit int64 `json:"auto_download_limit"`
	// LinkPreviews makes the sender fetch and attach a preview of the
	// first link of a message (off by default: fetching tells the site
	// the sender's address, or the proxy's).
	LinkPreviews bool `json:"link_previews"`
	// Interstitial says when opening a link first shows its analysis
	// (default: for risky links).
	Interstitial links.InterstitialPolicy `json:"interstitial"`

	// For the desktop app.

	// AutoLock locks the app after this long without input; 0 means
	// DefaultAutoLock, negative never.
	AutoLock time.Duration `json:"auto_lock"`
	// Notifications: NotifyOff turns them off; NotifyContent shows the
	// sender and the text (by default a notification only says that a
	// message arrived).
	NotifyOff     bool `json:"notify_off"`
	NotifyContent bool `json:"notify_content"`
	// ClipboardClear clears copied message text from the clipboard after
	// this long; 0 means DefaultClipboardClear, negative never.
	ClipboardClear time.Duration `json:"clipboard_clear"`
	// HideFromCapture hides the window from screen capture (Windows).
	HideFromCapture bool `json:"hide_from_capture"`

	// Connections; these take effect the next time the profile is
	// opened (Config.SOCKS5, when set, wins over SOCKS5 here).

	// SOCKS5 is a SOCKS5 proxy (host:port), such as Tor's 127.0.0.1:9050,
	// for relay connections, link previews and link checks.
	SOCKS5 string `json:"socks5,omitempty"`
	// IsolateMailboxes is Config.IsolateMailboxes (always on with a proxy).
	IsolateMailboxes bool `json:"isolate_mailboxes,omitempty"`
}

// Defaults for the zero values of Settings.
const (
	DefaultAutoLock       = 10 * time.Minute
	DefaultClipboardClear = time.Minute
)

// AutoLockAfter is the effective auto-lock delay; 0 means never.
func (s Settings) AutoLockAfter() time.Duration { return orDefault(s.AutoLock, DefaultAutoLock) }

// ClipboardClearAfter is the effective clipboard delay; 0 means never.
func (s Settings) ClipboardClearAfter() time.Duration {
	return orDefault(s.ClipboardClear, DefaultClipboardClear)
}

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return def
	}
	return d
}

// DefaultAutoDownloadLimit is the default Settings.AutoDownloadLimit.
const DefaultAutoDownloadLimit = 32 << 20

// ownMailbox is a mailbox of ours on a relay.
type ownMailbox struct {
	Relay string         `json:"relay"`
	ID    wire.MailboxID `json:"id"`
	Key   []byte         `json:"key"`   // ed25519 private key
	Token wire.Key32     `json:"token"` // what senders present
}

func (o ownMailbox) client() relayclient.Mailbox {
	return relayclient.Mailbox{ID: o.ID, Key: ed25519.PrivateKey(o.Key), SendTokenHash: tokenHash(o.Token)}
}

// peerMailbox is where a contact receives our messages.
type peerMailbox struct {
	Relay string         `json:"relay"`
	ID    wire.MailboxID `json:"id"`
	Token wire.Key32     `json:"token"`
	// Invite: this is the inviter's invite mailbox, which we write to
	// until their answer names a mailbox for us (part of the messages'
	// associated data, see bind.go).
	Invite bool `json:"invite,omitempty"`
}

// contactRec is a contact record (vault.Contact.Data).
type contactRec struct {
	ID        string      `json:"id"`
	Pseudonym string      `json:"pseudonym"`       // what they call themselves
	Alias     string      `json:"alias,omitempty"` // what we renamed them to
	Bundle    []byte      `json:"bundle"`          // their identity.Bundle
	Theirs    peerMailbox `json:"theirs"`
	Mine      ownMailbox  `json:"mine"`
	// Invite is the id of the invite this contact came through (ours or
	// theirs); until they answer, an initiator keeps sending to the
	// invite's mailbox.
	Invite    string `json:"invite,omitempty"`
	Initiator bool   `json:"initiator,omitempty"`
	Answered  bool   `json:"answered,omitempty"`
	Verified  bool   `json:"verified,omitempty"`
	Blocked   bool   `json:"blocked,omitempty"`
	// Timer is the conversation's default expiry.
	Timer     uint32 `json:"timer,omitempty"`
	TimerBurn bool   `json:"timer_burn,omitempty"`
	// KeyChanged holds the identity bundle of someone else who started a
	// session on this contact's mailbox (a request), until the user
	// accepts it as the contact's new identity or declines it. Until
	// then nothing of the conversation changes: Bundle, Theirs and the
	// session stay; the request's session is kept apart (pendingSession)
	// and RequestTheirs is where it wants to be written to.
	KeyChanged    []byte       `json:"key_changed,omitempty"`
	RequestTheirs *peerMailbox `json:"request_theirs,omitempty"`
	// RequestNoticed is when a request last added a notice (at most one
	// per requestNoticeEvery, see handleReset).
	RequestNoticed time.Time `json:"request_noticed,omitempty"`
	// OldVersion: their last unreadable message was made by protocol
	// version 1 (reported once, until they send a readable one).
	OldVersion bool `json:"old_version,omitempty"`
	// Refused is why the inviter refused our acceptance of its invite
	// (RefusedUsed, RefusedExpired); nothing is sent then.
	Refused string `json:"refused,omitempty"`
	// ResetPending: the profile was restored from a backup, so this
	// session's sending chain may repeat keys already used (resetNeeded:
	// nothing is encrypted with it until a new session replaces it), or
	// the new session's hello is queued (resetQueued: nothing else is
	// sent until the relay has it, so it arrives first). See restore.go.
	ResetPending resetState `json:"reset_pending,omitempty"`
	// PrevUntil: after a session renewed after a restore, messages of the
	// session it replaced open until then (keepPreviousFor), or until the
	// first one of the new session.
	PrevUntil time.Time `json:"prev_until,omitzero"`
	Created   time.Time `json:"created"`
	Activity  time.Time `json:"activity"`
	Unread    int       `json:"unread,omitempty"`
}

func (c *contactRec) name() string {
	if c.Alias != "" {
		return c.Alias
	}
	return c.Pseudonym
}

// inviteRec is an invite we made.
type inviteRec struct {
	ID      string     `json:"id"`
	Code    string     `json:"code"`
	Mailbox ownMailbox `json:"mailbox"`
	OneTime bool       `json:"one_time"`
	Expires time.Time  `json:"expires"`
	Used    int        `json:"used"`
	Refused int        `json:"refused,omitempty"` // refusals sent (bounded by maxRefusals)
}

// msgRec is the body of a vault message: one entry of a conversation.
type msgRec struct {
	ID       string     `json:"id"`
	Outgoing bool       `json:"out,omitempty"`
	Kind     string     `json:"kind"` // KindText, KindFile, KindNotice
	Text     string     `json:"text,omitempty"`
	File     *FileInfo  `json:"file,omitempty"`
	SentAt   time.Time  `json:"sent_at"`
	Timer    uint32     `json:"timer,omitempty"`
	Burn     bool       `json:"burn,omitempty"`
	State    State      `json:"state"`
	Shown    bool       `json:"shown,omitempty"`
	Previews []Preview  `json:"previews,omitempty"`
	Notice   *noticeRec `json:"notice,omitempty"`
}

type noticeRec struct {
	Type  string `json:"type"`            // "timer", "key-change", "moved"
	By    string `json:"by"`              // "me" or the contact's id
	Timer uint32 `json:"timer,omitempty"` // for "timer"
	Burn  bool   `json:"burn,omitempty"`
	// Reason is why an invite's use was refused, for "invite-refused".
	Reason string `json:"reason,omitempty"`
}

// msgIndex locates a message by id.
type msgIndex struct {
	Conversation string `json:"c"`
	Seq          uint64 `json:"s"`
}

// outboxRec is an outbox entry's data: a sealed envelope ready to go,
// stored in the same transaction as the ratchet step that made it, so a
// retry after a crash resends these bytes and never encrypts again.
type outboxRec struct {
	MessageIDs []string       `json:"mids,omitempty"` // history messages to mark sent (none for control messages)
	Relay      string         `json:"relay"`
	Mailbox    wire.MailboxID `json:"mailbox"`
	Token      wire.Key32     `json:"token"`
	TTL        time.Duration  `json:"ttl,omitempty"`
	Envelope   []byte         `json:"env"`
	Created    time.Time      `json:"created"`
	// Failed marks an entry whose envelope could not be sealed: it is
	// never sent, and its messages are marked failed.
	Failed bool `json:"failed,omitempty"`
}

// encode stores an outbox entry as its JSON fields without the envelope,
// then the envelope's bytes raw: envelopes are most of the entry, and
// base64 in JSON would cost more to decode than everything else.
func (o outboxRec) encode() []byte {
	env := o.Envelope
	o.Envelope = nil
	meta := mustJSON(o)
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(meta)+len(env)), uint32(len(meta)))
	b = append(b, meta...)
	return append(b, env...)
}

func decodeOutboxRec(b []byte) (outboxRec, error) {
	var o outboxRec
	if len(b) < 4 || uint64(binary.BigEndian.Uint32(b)) > uint64(len(b)-4) {
		return o, fmt.Errorf("messenger: %w: outbox entry", vault.ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(b)
	if err := json.Unmarshal(b[4:4+n], &o); err != nil {
		return o, fmt.Errorf("messenger: %w: outbox entry: %v", vault.ErrCorrupt, err)
	}
	o.Envelope = b[4+n:]
	return o, nil
}

func getJSON[T any](b []byte, err error) (T, error) {
	var v T
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("messenger: %w: record: %v", vault.ErrCorrupt, err)
	}
	return v, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are encoded
	}
	return b
}
