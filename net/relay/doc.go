// Package relay is the Ephemera relay server: it keeps sealed envelopes,
// prekeys and attachment blobs for mailboxes in a store.Store, and speaks
// the net/wire protocol with clients over WebSocket (Handler, at /v1/ws) or
// any wire.Conn (ServeConn, used with wire.Pipe in tests).
//
// # Protocol behaviour
//
// Every connection starts with a ServerHello carrying the relay's identity,
// a fresh 32-byte challenge and the relay's limits. Requests are handled
// one at a time in the order received, and each gets exactly one response
// with its id; so a client's Sends are stored in the order sent.
//
// Register and Auth check an Ed25519 signature over wire.AuthMessage bound
// to the relay, the connection's challenge and the mailbox, and then
// subscribe the connection to the mailbox: the relay pushes the stored
// envelopes in seq order (Deliver, id 0), then new ones as they are stored,
// with at most Limits.MaxInflight unacknowledged Delivers per mailbox per
// connection. Only an Ack from a connection authenticated for the mailbox
// deletes; what is not acknowledged is delivered again to the next
// connection that authenticates (at least once). Several connections may
// be authenticated for one mailbox; each is delivered everything.
//
// Choices the wire package leaves to the relay:
//
//   - A TTL above MaxTTL (for Send and BlobCreate) is cut to MaxTTL, not
//     refused: a sender asking for longer gets as long as the relay keeps
//     anything. TTL 0 means DefaultTTL.
//   - BlobGet on an incomplete blob is refused with CodeConflict; BlobPut
//     at an offset other than what the relay has is CodeConflict with the
//     relay's count in the message, so a client can resume from BlobStat.
//   - Register is rate-limited only when it creates a mailbox
//     (RegisterRate per connection, IPRegisterRate per address).
//   - ClaimPrekey on an unknown mailbox is CodeNotFound before any rate
//     limit, so made-up ids cost no memory.
//   - A connection sending frames faster than ConnRate is slowed down (the
//     relay reads its next frame late, and TCP pushes back on the client)
//     rather than refused, so a client flushing an outbox keeps its order.
//
// A frame that breaks the protocol closes its connection, and only it,
// with a WebSocket status: 1008 for an undecodable frame, a response or
// push type sent by a client, a request with id 0, or a text message (the
// reason is the decoding error); 1009 for a frame above
// max(MaxEnvelope, MaxChunk)+4096 bytes; 1013 when the relay is overloaded
// or the client did not read a frame within WriteTimeout;
// 1001 on shutdown and after IdleTimeout without a frame; 1011 if serving
// the connection panicked (a bug; recovered and counted). Over wire.Pipe,
// which has no status codes, the close reason reads "1008 ...".
//
// # Resources
//
// An idle connection costs one goroutine, the one reading its socket:
// delivery pumps exist only while there is something to deliver and exit
// when caught up, and wake-ups go through an in-process hub (mailbox →
// subscriptions) after each durable Append. Measured with `ephemera-relay
// loadtest --idle 10000` against the daemon on the 2-core dev machine
// (bbolt store, each connection authenticated for its own mailbox): about
// 10.8 KB of heap and 9.3 KB of goroutine stack per connection, 23 KB of
// resident memory per connection including the garbage collector's
// headroom. Upgraded connections get 1 KiB read and 2 KiB write buffers
// instead of net/http's 4 KiB each (see leanHijacker) for that.
//
// Delivery memory is bounded in bytes, not envelopes: a pump takes room in
// its connection's, its mailbox's and the relay's budget
// (DeliverConnBytes, DeliverMailboxBytes, DeliverTotalBytes) before it
// reads envelopes from the store, and gives it back as each frame is
// written. A full budget delays delivery; nothing is dropped. Fetches
// start at one envelope and grow as the client acknowledges, so a
// connection that never acknowledges holds one frame at a time. At most
// MaxConnsPerMailbox connections are authenticated for one mailbox (more
// get CodeRateLimited), and a client that does not take a frame within
// WriteTimeout is closed with 1013 "not reading", which returns its bytes.
// So connections that never read hold at most DeliverTotalBytes in all,
// each of them for at most WriteTimeout (docs/PERFORMANCE.md, scenario c).
//
// Per-address limits see the TCP peer. Behind a reverse proxy that is the
// proxy (X-Forwarded-For is not trusted); loopback peers are exempt unless
// Limits.LimitLoopback is set. IPv6 peers are limited per /64.
//
// # Logs and metrics
//
// Logs never contain envelope bytes, tokens or keys. Mailbox and blob ids
// appear only at debug level and only in their 8-digit short form; store
// failures are logged at error level by their innermost cause only, since
// a store's error text may name a mailbox.
//
// Metrics are prefixed ephemera_relay_ and served at /metrics with, by
// default, the Go and process collectors.
package relay
