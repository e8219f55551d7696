package messenger

import (
	"fmt"

	"github.com/ephemera-im/ephemera/net/relayclient"
)

// Event is something the messenger reports to its front end. The concrete
// types are listed below; switch on them. More will be added (messages
// received, delivery states, transfer progress, timers expiring), so a
// front end should ignore types it does not know.
type Event interface{ isEvent() }

// ConnectionChanged reports a new state of the relay connection. Err is the
// reason for it, if any: why a connection failed or dropped
// (StateDisconnected), or, with StateConnected, which mailboxes the relay
// refused.
type ConnectionChanged struct {
	State ConnState
	Err   error
}

func (ConnectionChanged) isEvent() {}

// ConnState is the state of the connection to the relay.
type ConnState int

// Connection states. The zero value is StateDisconnected.
const (
	// StateDisconnected: no connection, waiting before the next attempt
	// (or not started yet).
	StateDisconnected ConnState = iota
	// StateConnecting: dialling the relay and authenticating.
	StateConnecting
	// StateConnected: connected and authenticated.
	StateConnected
	// StateClosed: the messenger was closed. Final.
	StateClosed
)

func (s ConnState) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("ConnState(%d)", int(s))
}

func connState(s relayclient.State) ConnState {
	switch s {
	case relayclient.Connecting:
		return StateConnecting
	case relayclient.Connected:
		return StateConnected
	case relayclient.Closed:
		return StateClosed
	}
	return StateDisconnected
}

// IdentityRequest reports that someone with another identity than
// Contact's started a session on the mailbox Contact writes to (their new
// device or identity, or someone they gave the mailbox to). Nothing of the
// conversation changed: it goes on with the known identity until the user
// compares the request's safety number (RequestSafetyNumber) and accepts
// it (AcceptKeyChange) or declines it (DeclineKeyChange). Pseudonym is
// what the requester calls itself. Contact.KeyChanged stays set meanwhile.
type IdentityRequest struct {
	Contact   Contact
	Pseudonym string
}

func (IdentityRequest) isEvent() {}

// OldVersionIgnored reports a message made by an older version of
// Ephemera (protocol version 1, whose messages are not bound to their
// mailbox) that was therefore not read: from Contact (its id), or an
// answer to our invite Invite (its id) when no contact exists yet.
type OldVersionIgnored struct {
	Contact string
	Invite  string
}

func (OldVersionIgnored) isEvent() {}

// InviteRefused reports that the inviter refused our acceptance of its
// invite: Reason is RefusedUsed (a one-time invite someone used first) or
// RefusedExpired. Contact.Refused is set, nothing more is sent to it and
// what we had sent is marked failed; ask for a new invite.
type InviteRefused struct {
	Contact Contact
	Reason  string
}

func (InviteRefused) isEvent() {}
