// Package wire defines the frames spoken between an Ephemera client and an
// Ephemera relay, and their binary encoding.
//
// Every frame travels as one binary WebSocket message. A frame is
//
//	version (1 byte, currently 1) | type (1 byte) | request id (uint32, big endian) | body
//
// Requests carry a non-zero id chosen by the client; the relay answers each
// request with exactly one response frame carrying the same id. Frames the
// relay sends on its own (ServerHello, Deliver) carry id 0.
//
// Bodies are a fixed sequence of fields per type: fixed-size byte arrays,
// big-endian unsigned integers, and variable byte strings prefixed with a
// uint32 length. Lists are prefixed with a uint16 count. Booleans are one byte,
// 0 or 1. The encoding is canonical: Decode accepts only what Encode
// produces, so decoding and re-encoding any accepted frame gives back the
// same bytes. Every variable field has a maximum length; Decode never
// allocates more than the input's size.
//
// docs/PROTOCOL.md specifies the protocol in full; testdata/frames holds
// test vectors.
package wire
