// Package messenger is the service that Ephemera's front ends drive: the
// desktop GUI and the headless CLI (cmd/ephemera-cli) are two clients of
// it, and anything one can do the other can. It imports nothing from Fyne
// and builds with CGO_ENABLED=0.
//
// A Messenger is one open profile (Create, Open): its vault
// (storage/vault), identity (core/identity), contacts, sessions
// (core/session), relay connections (net/relayclient), outbox and timers.
// Close locks it: connections and timers stop, the vault's keys and the
// parsed sessions are wiped from memory.
//
// # Contacts and mailboxes
//
// Every contact has a mailbox of its own on each side, so a relay cannot
// link one person's conversations: CreateInvite makes a fresh mailbox for
// the invite and publishes prekeys on it; AcceptInvite claims one, runs
// the PQXDH handshake and sends a hello (a control message carrying the
// invitee's identity bundle and a new mailbox of theirs for this contact)
// to the invite's mailbox. The inviter answers with a hello naming a new
// mailbox of its own for the contact, and the invite's mailbox is no
// longer used by them. A one-time invite that was already used is refused
// by AcceptInvite (ErrInviteUsed); a hello the inviter refuses (used or
// expired) is answered with a refusal, which the accepting side reports
// (InviteRefused) instead of waiting for an answer forever. Contacts on different relays work: the messenger
// keeps connections to every relay it needs: ones that read its own
// mailboxes and others, authenticated for nothing, that send, claim
// prekeys and download, so that the relay never sees a send on a
// connection that names the sender's mailboxes. By default there is one of
// each per relay; with Config.IsolateMailboxes, and always through a SOCKS5
// proxy such as Tor's, one per mailbox read and one per mailbox written
// to, each through the proxy with its own credentials (its own Tor
// circuit). docs/PROTOCOL.md section 15 says what the relay can link in
// each mode.
//
// Prekeys on a mailbox are sealed under a key derived from the mailbox's
// send token, which the relay only knows by its hash: what the relay
// stores and hands out is opaque, so it cannot link mailboxes by the
// identity keys or pseudonyms inside. The hello and every later message
// are sealed-sender envelopes (core/envelope) around Double Ratchet
// messages (core/session) around core/message encodings; docs/PROTOCOL.md
// part III lists the control messages.
//
// Every ratchet message is bound to the mailbox it is sent to and that
// mailbox's role, invite or contact (bind.go): a relay that moves an
// envelope between our mailboxes gets nothing read. A contact's identity
// key can change (ResetIdentity on their side): the new session's hello
// on their mailbox names another identity, which is only a request
// (IdentityRequest, Contact.KeyChanged): the conversation's identity,
// session and mailbox stay, and sending goes on, until AcceptKeyChange
// (which clears the verified flag) or DeclineKeyChange. ResetSession
// starts a new session with the same identity. MoveRelay gives every contact a new mailbox on another
// relay and tells them through their sessions.
//
// # Sending: the outbox
//
// SendText, SendFile's announcement, receipts and timer changes are all
// encrypted inside one vault transaction that stores the advanced ratchet
// state, the sealed envelope in the outbox and our copy in the
// conversation (state queued). Concurrent sends share one transaction
// (group commit). A background loop hands stored envelopes to the
// recipient's relay until it acknowledges them, with backoff, and after a
// crash resends the very same bytes: nothing is ever encrypted twice.
//
// # Receiving
//
// Envelopes delivered by a relay are processed in batches, one vault
// transaction each, and acknowledged only after it commits. A redelivered
// envelope (its ack was lost, or the process died before acking) is
// recognised by its digest, and a message by its id, so history shows
// every message exactly once. Text and file messages are answered with a
// delivery receipt (read receipts only with Settings.ReadReceipts).
//
// # Disappearing messages
//
// A message's expiry travels inside it (core/message.Expiry): a timer
// counted from sending, or burn-on-read with a duration counted from when
// the message is first shown (MarkShown). Each conversation has a default
// that either side can change with SetTimer; the change travels as a
// control message and both sides store a notice, which expires like the
// messages it announces. The vault seals expiring messages under keys of
// their own and destroys them on expiry, at run time and on every Open,
// so a profile opened after time offline shows nothing that was due.
//
// # Files
//
// SendFile sanitizes a file (core/media; an unsupported type is refused
// unless FileOptions.AsIs), stores it in the vault, encrypts it with
// storage/stream under a fresh key into a transfer file of ciphertext,
// uploads it to our relay as a blob (resumed after interruptions) and then
// sends a file message with the blob id, key and ciphertext hash. The
// receiver downloads it (automatically up to Settings.AutoDownloadLimit,
// otherwise on Download), checks the hash, and decrypts it into its vault.
// No plaintext is written outside the vault; memory stays flat whatever
// the size (TestLargeFileFlatMemory in cmd/ephemera-cli).
//
// # Events
//
// Subscribe returns a stream of events (MessageAdded, MessageUpdated,
// MessagesExpired, TransferProgress, ContactChanged, ContactRemoved,
// RelayChanged). Posting never blocks the messenger: each subscriber has a
// bounded queue, and one that falls behind loses events and then receives
// EventsDropped, after which it reloads what it shows. Transfer progress
// is limited to about one event per frame per transfer.
//
// # Link previews
//
// Previews the sender attaches (SendOptions.Previews, made with
// core/links) travel as claims after the message; the receiver keeps a
// claim only if its URL is a link in the message's own text, and shows
// the domain from the text, never from the claim.
//
// RelayLink is the older profile-less connection the desktop app still
// shows until its onboarding screens use Messenger.
package messenger
