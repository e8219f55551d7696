package wire

import (
	"errors"
	"fmt"
)

// ErrorCode is the code carried by an Error frame.
type ErrorCode uint16

// Error codes. Clients may retry Unavailable, RateLimited and Internal.
const (
	CodeBadRequest   ErrorCode = 1  // a field is out of range or inconsistent
	CodeUnauthorized ErrorCode = 2  // bad signature, missing Auth, wrong send token
	CodeNotFound     ErrorCode = 3  // no such mailbox or blob
	CodeQuota        ErrorCode = 4  // the mailbox's count or byte quota is full
	CodeRateLimited  ErrorCode = 5  // slow down
	CodeTooLarge     ErrorCode = 6  // envelope, blob or chunk above the relay's limit
	CodeConflict     ErrorCode = 7  // mailbox owned by another key, blob offset mismatch
	CodeInternal     ErrorCode = 8  // the relay failed; nothing was stored
	CodeUnavailable  ErrorCode = 9  // shutting down
	CodeNoPrekeys    ErrorCode = 10 // no prekey bundle uploaded
)

var codeNames = map[ErrorCode]string{
	CodeBadRequest: "bad-request", CodeUnauthorized: "unauthorized", CodeNotFound: "not-found",
	CodeQuota: "quota", CodeRateLimited: "rate-limited", CodeTooLarge: "too-large",
	CodeConflict: "conflict", CodeInternal: "internal", CodeUnavailable: "unavailable",
	CodeNoPrekeys: "no-prekeys",
}

// String returns the code's stable name, as used in docs/PROTOCOL.md.
func (c ErrorCode) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code-%d", uint16(c))
}

// Temporary reports whether the same request may succeed when retried.
func (c ErrorCode) Temporary() bool {
	return c == CodeRateLimited || c == CodeUnavailable || c == CodeInternal
}

// Error lets an Error frame be returned as a Go error.
func (m *Error) Error() string {
	if m.Message == "" {
		return "relay: " + m.Code.String()
	}
	return "relay: " + m.Code.String() + ": " + m.Message
}

// Is lets callers test errors.Is(err, &wire.Error{Code: wire.CodeQuota}).
func (m *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t != nil && t.Code == m.Code
}
