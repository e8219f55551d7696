package messenger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"sort"

	"github.com/ephemera-im/ephemera/core/session"
)

func randomHex(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func ed25519Equal(a, b ed25519.PublicKey) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}

func bytesEqual(a, b []byte) bool { return bytes.Equal(a, b) }

// clonePrekeys copies a prekey store, so a handshake that fails (or a
// transaction that does not commit) leaves the one in use untouched.
func clonePrekeys(s *session.PrekeyStore) (*session.PrekeyStore, error) {
	b, err := s.MarshalBinary()
	if err != nil {
		return nil, err
	}
	c := new(session.PrekeyStore)
	c.GracePeriod = s.GracePeriod
	return c, c.UnmarshalBinary(b)
}

// sortContacts orders contacts by activity, most recent first.
func sortContacts(cs []Contact) {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Activity.After(cs[j].Activity) })
}
