package main

import (
	"syscall"
	"testing"
)

// Test files are checked too: Maxrss is not in Windows' Rusage.
func TestRusage(t *testing.T) {
	var ru syscall.Rusage
	_ = ru.Maxrss
}
