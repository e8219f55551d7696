//go:build !unix

package session

func cpuTime() int64 { return 0 }
