package wire

// Operations bound into an authentication signature, so a Register
// signature cannot be replayed as an Auth or the other way round.
const (
	OpRegister byte = 1
	OpAuth     byte = 2
)

// AuthContext separates these signatures from any other use of the key.
const AuthContext = "ephemera relay mailbox auth v1"

// AuthMessage is what a mailbox owner signs with its Ed25519 key to
// Register (op OpRegister, with the owner key and send-token hash) or Auth
// (op OpAuth, the owner key as registered, a zero token hash). It binds the
// signature to the relay's identity, the connection's fresh challenge and
// the mailbox, so it is useless anywhere else.
func AuthMessage(op byte, relay, challenge Key32, mailbox MailboxID, owner, tokenHash Key32) []byte {
	b := make([]byte, 0, len(AuthContext)+2+5*32)
	b = append(b, AuthContext...)
	b = append(b, 0, op)
	b = append(b, relay[:]...)
	b = append(b, challenge[:]...)
	b = append(b, mailbox[:]...)
	b = append(b, owner[:]...)
	b = append(b, tokenHash[:]...)
	return b
}
