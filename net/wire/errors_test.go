package wire_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ephemera-im/ephemera/net/wire"
)

func TestErrorCodes(t *testing.T) {
	tests := []struct {
		code      wire.ErrorCode
		value     uint16
		name      string
		temporary bool
	}{
		{wire.CodeBadRequest, 1, "bad-request", false},
		{wire.CodeUnauthorized, 2, "unauthorized", false},
		{wire.CodeNotFound, 3, "not-found", false},
		{wire.CodeQuota, 4, "quota", false},
		{wire.CodeRateLimited, 5, "rate-limited", true},
		{wire.CodeTooLarge, 6, "too-large", false},
		{wire.CodeConflict, 7, "conflict", false},
		{wire.CodeInternal, 8, "internal", true},
		{wire.CodeUnavailable, 9, "unavailable", true},
		{wire.CodeNoPrekeys, 10, "no-prekeys", false},
		{0, 0, "code-0", false},
		{999, 999, "code-999", false},
	}
	for _, tc := range tests {
		if uint16(tc.code) != tc.value {
			t.Errorf("%s: value %d, want %d", tc.name, uint16(tc.code), tc.value)
		}
		if got := tc.code.String(); got != tc.name {
			t.Errorf("code %d: String() = %q, want %q", tc.value, got, tc.name)
		}
		if got := tc.code.Temporary(); got != tc.temporary {
			t.Errorf("%s: Temporary() = %v, want %v", tc.name, got, tc.temporary)
		}
	}
}

func TestErrorIs(t *testing.T) {
	quota := &wire.Error{Code: wire.CodeQuota, Message: "mailbox full"}
	var err error = quota
	if !errors.Is(err, &wire.Error{Code: wire.CodeQuota}) {
		t.Error("errors.Is with the same code and another message: false, want true")
	}
	if errors.Is(err, &wire.Error{Code: wire.CodeNotFound}) {
		t.Error("errors.Is with another code: true, want false")
	}
	wrapped := fmt.Errorf("send: %w", err)
	if !errors.Is(wrapped, &wire.Error{Code: wire.CodeQuota}) {
		t.Error("errors.Is through fmt.Errorf %w: false, want true")
	}
	var got *wire.Error
	if !errors.As(wrapped, &got) || got != quota {
		t.Error("errors.As did not find the *wire.Error")
	}
	if errors.Is(err, wire.ErrMalformed) || errors.Is(err, errors.New("quota")) {
		t.Error("an Error frame matched an unrelated error")
	}
	// A typed nil target must not panic.
	if errors.Is(err, (*wire.Error)(nil)) {
		t.Error("errors.Is with a nil *Error target: true, want false")
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *wire.Error
		want string
	}{
		{&wire.Error{Code: wire.CodeQuota}, "relay: quota"},
		{&wire.Error{Code: wire.CodeQuota, Message: "mailbox full"}, "relay: quota: mailbox full"},
		{&wire.Error{Code: 77, Message: "x"}, "relay: code-77: x"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
