//go:build !unix

package loadtest

import "syscall"

// setSmallReceiveBuffer leaves the system's receive buffer: the hoarding
// run then measures kernel buffering as well as the relay.
func setSmallReceiveBuffer(network, address string, c syscall.RawConn) error { return nil }
