// Package natsstore is the relay's store.Store on NATS JetStream, for a
// relay run as several stateless nodes behind one address. Every node
// opens a Store on the same JetStream (one account per relay deployment);
// the Stores agree through JetStream alone, with no state of their own
// beyond caches, and pass the store.Store contract suite (storetest)
// unchanged. boltstore stays the store for one machine.
//
// # Layout
//
// Five streams, created by the first node to open them with
// Options.Replicas replicas (3 on a three-server cluster):
//
//	EPH_ENV    eph.mb.<mailbox>.r        mailbox record: owner, send-token hash,
//	                                     created, last seq, messages, bytes
//	           eph.mb.<mailbox>.e.<seq>  one envelope per subject
//	EPH_STATE  eph.state.pk.<mailbox>    prekey record: bundle, last-resort key,
//	                                     stream sequences of the one-time keys
//	           eph.state.blob.<blob>     blob record: owner, size, have, expiry,
//	                                     its chunks' lengths and stream sequences
//	           eph.state.relay           the relay id, made by the first node
//	EPH_KEYS   eph.keys.<mailbox>        one-time prekeys
//	EPH_BLOB   eph.blob.<blob>           blob bytes, one message per chunk
//	EPH_EXP    eph.exp.<unix minute>     expiry index
//
// EPH_STATE and EPH_ENV keep one message per subject (MaxMsgsPerSubject
// 1): for a record, the last message is its value and that message's
// stream sequence its revision.
// Records change by compare-and-set: a publish with the header
// Nats-Expected-Last-Subject-Sequence set to the revision read, refused
// if another node wrote in between, which then reads and tries again.
// That is what a nats.go KeyValue bucket does underneath; it is not used
// because its reads are direct gets, which any replica may answer from
// behind, so one node could miss a mailbox another had just registered.
// Records are read from the stream leader ($JS.API.STREAM.MSG.GET), so a
// read sees every write acknowledged before it.
//
// Within one process, calls on the same mailbox (or blob) queue on a mutex
// so that they do not lose compare-and-set races to each other; across
// processes the compare-and-set alone decides.
//
// # Envelopes and sequence numbers
//
// Sequence numbers are per mailbox, from 1, never reused, as in boltstore
// (the contract suite checks it, after Delete, Sweep and reopening). They
// are not JetStream's stream sequences, which are shared by all mailboxes.
// Append reads the mailbox record (revision r, last seq L) and the
// mailbox's newest envelope (stream sequence p, seq t; last message on
// eph.mb.<mailbox>.e.*), and publishes the new envelope, seq max(L, t)+1,
// to eph.mb.<mailbox>.e.<seq> with the headers
// Nats-Expected-Last-Subject-Sequence max(r, p) and
// Nats-Expected-Last-Subject-Sequence-Subject eph.mb.<mailbox>.>: the
// publish succeeds only if neither the record nor the mailbox's envelopes
// changed since the two reads. So appends to one mailbox are stored one
// at a time in sequence order, whichever nodes make them, and a reader
// that sees seq n has seen every envelope before it. The record is part
// of the condition because envelopes get deleted: conditioned on the
// envelopes alone, an Ack that deleted the newest envelope would make a
// read from before it look current again, and its sequence number be
// given out twice (TestNodesAppendAfterAck; the two-node load run found
// it). That is why mailbox records live in EPH_ENV beside their
// envelopes: the condition covers one stream's subjects. The record's
// counters are then raised by compare-and-set. Until they are, the
// envelope is not read by Fetch (which stops at the record's last seq),
// and the quota is checked again against the fresh counters: if another
// node's append took the room in between, the envelope is deleted and the
// call fails with ErrQuota, so the quota check is atomic with the append
// as the contract requires. JetStream's MaxMsgsPerSubject and
// DiscardNewPerSubject cannot express the quota: it counts messages and
// bytes across all of a mailbox's subjects, blobs included.
//
// Delete (the relay's Ack) and Sweep first lower the counters and raise
// the record's last seq by compare-and-set, then delete the messages
// (DeleteMsg by stream sequence), then put back what another caller had
// deleted first: whoever's DeleteMsg removed an envelope is the one that
// took it off the counters, so concurrent Acks and sweeps on several
// nodes count each envelope once.
//
// Reading needs no consumer. A JetStream consumer per mailbox would be the
// obvious design and does not scale: each one is state replicated on the
// cluster, and tens of thousands of them overwhelm it (nats-server issue
// 5609). Fetch instead reads with one batched direct get
// ($JS.API.DIRECT.GET with next_by_subj eph.mb.<mailbox>.e.* and a batch
// size), starting after the last envelope this node saw for the mailbox.
// Direct gets may be answered by any replica; if the answer stops before
// the mailbox's newest envelope as the leader has it, the replica was
// behind and the read is repeated. BenchmarkMailboxes measures Append,
// Fetch and Delete with 10,000 and more mailboxes: the cost per envelope
// does not depend on how many mailboxes there are.
//
// # Expiry
//
// Each envelope and blob with an expiry gets an entry in EPH_EXP on the
// subject of its minute. Sweep lists that stream's subjects, reads those
// of past minutes, deletes what expired (by the store's clock, so tests
// drive it exactly) and purges the entries handled. Every relay node
// sweeps; nodes sweeping at once do not count an envelope twice (see
// Delete). Entries of envelopes acknowledged earlier stay until their
// minute comes: about 100 bytes per envelope for at most the relay's
// MaxTTL. JetStream's own per-message TTL (Nats-TTL) and MaxAge are not
// used: a message the server expires by itself never has its bytes taken
// off the mailbox's counters, and the contract wants expired envelopes to
// count until Sweep removes them.
//
// # Prekeys
//
// One-time keys are messages on eph.keys.<mailbox>; the prekey record
// lists their stream sequences, oldest first. ClaimPrekey removes the
// first from the record by compare-and-set before reading the key, so of
// any number of nodes claiming at once exactly one gets each key; the
// others see the changed revision and take the next. PutPrekeys publishes
// the keys (pipelined), then adds them to the record.
//
// # Blobs
//
// Blob bytes are chunk messages on eph.blob.<blob> in a stream, not a
// JetStream object store: an object store object cannot be appended to,
// while the relay's uploads arrive in pieces (BlobPut) and resume after a
// break at Have. Each WriteBlob publishes its bytes (split to fit the
// servers' max_payload) and then adds the chunks to the blob record by
// compare-and-set, which also checks the offset: two writers at the same
// offset cannot both succeed, and the loser's chunks are deleted. A chunk
// list costs 12 bytes per chunk in the record (48 KiB for a 1 GiB blob in
// 256 KiB chunks), rewritten by each write.
//
// # Wake-ups across nodes
//
// Store implements relay.Notifier: after a durable Append the relay calls
// Notify, which publishes the mailbox id on the core NATS subject
// eph.wake (not stored). SubscribeWake makes every wake-up from another
// node call the relay's Server.Wake, which pushes the new envelopes to the
// connections authenticated for the mailbox there. No node polls. A
// wake-up lost while a node is disconnected from NATS costs only that
// push: its clients see the disconnection, and reconnecting reads the
// backlog.
//
// # Durability and failures
//
// A call returns once JetStream has acknowledged every write it made,
// which with R replicas means stored on a majority of them. A node that
// dies between two writes of one call leaves one of: an envelope stored
// but not yet counted (it is delivered once a later Append to the mailbox
// counts past it; the counters stay one low), a one-time key or blob
// chunk published but not recorded (never handed out; it stays as
// garbage in its stream until the mailbox's keys are replaced or the blob
// is swept), or counters lowered for an envelope not yet deleted (the
// mailbox may hold one more than its quota). None loses an acknowledged
// envelope or hands out a key twice.
//
// The envelope size limit is wire.MaxEnvelopeSize, or the servers'
// max_payload less 4 KiB for headers if that is smaller (MaxEnvelope).
package natsstore
