//go:build unix

package loadtest

import (
	"syscall"
)

// setSmallReceiveBuffer sets a 4 KiB receive buffer on a socket before it
// connects (the window is agreed at connect time).
func setSmallReceiveBuffer(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
	if err != nil {
		return err
	}
	return serr
}
