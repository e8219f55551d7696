package natsstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Stream names and subjects. One relay deployment per JetStream account.
const (
	streamState = "EPH_STATE" // one record per subject: prekey sets, blobs, relay id
	streamEnv   = "EPH_ENV"   // mailbox records eph.mb.<mailbox>.r, envelopes eph.mb.<mailbox>.e.<seq>
	streamKeys  = "EPH_KEYS"  // one-time prekeys: eph.keys.<mailbox>
	streamBlob  = "EPH_BLOB"  // blob chunks: eph.blob.<blob>
	streamExp   = "EPH_EXP"   // expiry index: eph.exp.<unix minute>

	subjRelay = "eph.state.relay"
	subjCheck = "eph.state.check"
	subjWake  = "eph.wake"

	hdrSeq      = "Eph-Seq"
	hdrReceived = "Eph-Received"
	hdrExpires  = "Eph-Expires"
)

// headroom is what a message's subject and headers may take beside its
// payload within the connection's MaxPayload.
const headroom = 4 << 10

// Options configure Open. The zero value is ready to use with a
// connection given to Open.
type Options struct {
	// Now is the store's clock, used for Received times and to hide
	// expired envelopes and blobs; nil means time.Now.
	Now func() time.Time
	// Replicas is the replication factor of the streams Open creates;
	// zero means 1. Streams that exist keep theirs.
	Replicas int
	// Memory keeps the streams in memory instead of on disk: for tests
	// and benchmarks only.
	Memory bool
	// Timeout bounds each call to JetStream made without a deadline of
	// the caller's; zero means 10 seconds.
	Timeout time.Duration
	// CloseConn makes Close close the connection too.
	CloseConn bool
}

// Store is a store.Store on NATS JetStream. Make one with Open; it is safe
// for concurrent use, and any number of Stores, in any number of
// processes, may share one JetStream.
type Store struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	now      func() time.Time
	timeout  time.Duration
	closeNC  bool
	maxEnv   int
	relay    wire.Key32
	node     [8]byte // tags this Store's wake-ups so it ignores its own
	streams  map[string]jetstream.Stream
	replicas int // asked for, for streams Open creates
	// envReplicas is what the envelope stream has: with one there is
	// no replica that could be behind.
	envReplicas int

	gate   sync.RWMutex
	closed bool

	// locks serialise, within this process, the writes to one mailbox's
	// (or blob's) records, so that concurrent calls here queue instead of
	// losing compare-and-set races to each other. Other processes are
	// kept out by the compare-and-set itself.
	locks [256]sync.Mutex

	cache envCache

	wakeMu  sync.Mutex
	wakeSub *nats.Subscription
}

var _ store.Store = (*Store)(nil)

// Open opens the store on nc, creating the streams it needs if they do not
// exist, and the relay's identity if no node has made it yet.
func Open(ctx context.Context, nc *nats.Conn, opts Options) (*Store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsstore: open: %w", err)
	}
	s := &Store{nc: nc, js: js, now: opts.Now, timeout: opts.Timeout, closeNC: opts.CloseConn,
		streams: map[string]jetstream.Stream{}, replicas: max(opts.Replicas, 1)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	s.maxEnv = min(wire.MaxEnvelopeSize, int(nc.MaxPayload())-headroom)
	s.cache.init()
	if _, err := rand.Read(s.node[:]); err != nil {
		return nil, fmt.Errorf("natsstore: open: %w", err)
	}
	storage := jetstream.FileStorage
	if opts.Memory {
		storage = jetstream.MemoryStorage
	}
	cfgs := []jetstream.StreamConfig{
		{Name: streamState, Subjects: []string{"eph.state.>"}, MaxMsgsPerSubject: 1},
		// Direct gets let every replica answer the batched reads of Fetch;
		// Fetch checks that the replica was not behind (see fetch).
		{Name: streamEnv, Subjects: []string{"eph.mb.>"}, MaxMsgsPerSubject: 1, AllowDirect: true},
		{Name: streamKeys, Subjects: []string{"eph.keys.*"}},
		{Name: streamBlob, Subjects: []string{"eph.blob.*"}},
		{Name: streamExp, Subjects: []string{"eph.exp.*"}, AllowDirect: true},
	}
	for _, cfg := range cfgs {
		cfg.Storage = storage
		cfg.Replicas = s.replicas
		cfg.Retention = jetstream.LimitsPolicy
		cfg.Discard = jetstream.DiscardOld
		cctx, cancel := s.ctx(ctx)
		st, err := js.Stream(cctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			st, err = js.CreateStream(cctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				st, err = js.Stream(cctx, cfg.Name) // another node made it first
			}
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("natsstore: open: stream %s: %w", cfg.Name, err)
		}
		s.streams[cfg.Name] = st
	}
	s.envReplicas = s.replicas
	if info := s.streams[streamEnv].CachedInfo(); info != nil {
		s.envReplicas = max(info.Config.Replicas, 1)
	}
	if err := s.initRelayID(ctx); err != nil {
		return nil, fmt.Errorf("natsstore: open: relay id: %w", err)
	}
	return s, nil
}

// initRelayID reads the relay's identity, or makes it: the first node to
// publish it wins, the others read the winner's.
func (s *Store) initRelayID(ctx context.Context) error {
	for range 10 {
		m, err := s.get(ctx, streamState, msgGetReq{LastFor: subjRelay})
		if err == nil {
			if len(m.Data) != len(s.relay) {
				return fmt.Errorf("%d bytes: %w", len(m.Data), ErrCorrupt)
			}
			copy(s.relay[:], m.Data)
			return nil
		}
		if !errors.Is(err, errNoMsg) {
			return err
		}
		var id wire.Key32
		if _, err := rand.Read(id[:]); err != nil {
			return err
		}
		if _, err := s.publish(ctx, subjRelay, nil, id[:], jetstream.WithExpectLastSequencePerSubject(0)); err != nil && !isConflict(err) {
			return err
		}
	}
	return errors.New("could not settle on a relay id")
}

// Errors of this package. A relay logs only the innermost error of a
// failed call, so none of them names a mailbox or blob.
var (
	// ErrCorrupt reports a record this package cannot decode.
	ErrCorrupt = errors.New("natsstore: corrupt record")
	// ErrContention reports a compare-and-set lost maxAttempts times
	// in a row (or, for prekeys, until the call's deadline): other
	// writers to the same record kept winning.
	ErrContention = errors.New("natsstore: too much contention")

	errExhausted      = errors.New("sequence numbers exhausted")
	errBehind         = errors.New("replicas stay behind the stream leader")
	errNegativeOffset = errors.New("negative offset")
)

// MaxEnvelope is the largest envelope Append takes: wire.MaxEnvelopeSize,
// or less when the NATS servers' max_payload is smaller.
func (s *Store) MaxEnvelope() int { return s.maxEnv }

// ctx bounds a call that has no deadline of its own.
func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.timeout)
}

// enter admits a call: on nil the caller must s.gate.RUnlock().
func (s *Store) enter(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("natsstore: %s: %w", op, err)
	}
	s.gate.RLock()
	if s.closed {
		s.gate.RUnlock()
		return fmt.Errorf("natsstore: %s: %w", op, store.ErrClosed)
	}
	return nil
}

func (s *Store) lock(key []byte) *sync.Mutex {
	h := uint32(2166136261)
	for _, b := range key {
		h = (h ^ uint32(b)) * 16777619
	}
	return &s.locks[h%uint32(len(s.locks))]
}

// RelayID implements store.Store.
func (s *Store) RelayID(ctx context.Context) (wire.Key32, error) {
	if err := s.enter(ctx, "relay id"); err != nil {
		return wire.Key32{}, err
	}
	defer s.gate.RUnlock()
	return s.relay, nil
}

// Check implements store.Store with a write to the state stream, which
// succeeds only when its replicas have a quorum.
func (s *Store) Check(ctx context.Context) error {
	if err := s.enter(ctx, "check"); err != nil {
		return err
	}
	defer s.gate.RUnlock()
	if _, err := s.publish(ctx, subjCheck, nil, binary.BigEndian.AppendUint64(nil, uint64(s.now().UnixNano()))); err != nil {
		return fmt.Errorf("natsstore: check: %w", err)
	}
	return nil
}

// Close implements store.Store. It waits for calls in flight.
func (s *Store) Close() error {
	s.gate.Lock()
	defer s.gate.Unlock()
	if s.closed {
		return fmt.Errorf("natsstore: close: %w", store.ErrClosed)
	}
	s.closed = true
	s.wakeMu.Lock()
	if s.wakeSub != nil {
		s.wakeSub.Unsubscribe()
		s.wakeSub = nil
	}
	s.wakeMu.Unlock()
	if s.closeNC {
		s.nc.Close()
	}
	return nil
}

// publish publishes to JetStream and waits for the acknowledgement, which
// comes once the message is stored on a quorum of the stream's replicas.
func (s *Store) publish(ctx context.Context, subject string, h nats.Header, data []byte, opts ...jetstream.PublishOpt) (uint64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: h, Data: data}, opts...)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// isConflict reports a failed expected-last-sequence check: another
// writer got there first.
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// Error codes of nats-server that nats.go has no names for.
const (
	jsSequenceNotFound = 10043 // JSSequenceNotFoundErrF
	jsMsgDeleteFailed  = 10057 // JSStreamMsgDeleteFailedF
)

// errNoMsg is a get that found no message.
var errNoMsg = errors.New("no message")

// msgGetReq is JetStream's message get request.
type msgGetReq struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
	Batch   int    `json:"batch,omitempty"`
}

// rawMsg is a stored message.
type rawMsg struct {
	Subject string
	Seq     uint64
	Header  nats.Header
	Data    []byte
}

// get reads one message from the stream's leader, so it sees every write
// acknowledged before it (a direct get may be answered by a replica that
// is behind). nats.go's Stream.GetMsg would switch to direct gets on
// streams that allow them.
//
// A stream without a leader for a moment (a leader change) is waited out,
// within ctx's deadline or the store's timeout.
func (s *Store) get(ctx context.Context, stream string, req msgGetReq) (*rawMsg, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var r retrier
	for {
		actx, acancel := s.attempt(ctx)
		m, err := s.getOnce(actx, stream, req)
		acancel()
		if err == nil || errors.Is(err, errNoMsg) || !r.again(ctx, err) {
			return m, r.final(ctx, err)
		}
	}
}

func (s *Store) getOnce(ctx context.Context, stream string, req msgGetReq) (*rawMsg, error) {
	body, _ := json.Marshal(req)
	resp, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Error   *apiError `json:"error"`
		Message *struct {
			Subject string `json:"subject"`
			Seq     uint64 `json:"seq"`
			Header  []byte `json:"hdrs"`
			Data    []byte `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("message get response: %w", err)
	}
	if r.Error != nil {
		if r.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound) {
			return nil, errNoMsg
		}
		if r.Error.Code == http.StatusServiceUnavailable {
			return nil, fmt.Errorf("message get: %s (%d): %w", r.Error.Description, r.Error.ErrCode, errUnavailable)
		}
		return nil, fmt.Errorf("message get: %s (%d)", r.Error.Description, r.Error.ErrCode)
	}
	if r.Message == nil {
		return nil, errors.New("message get: empty response")
	}
	m := &rawMsg{Subject: r.Message.Subject, Seq: r.Message.Seq, Data: r.Message.Data}
	if len(r.Message.Header) > 0 {
		h, err := decodeHeader(r.Message.Header)
		if err != nil {
			return nil, err
		}
		m.Header = h
	}
	return m, nil
}

// decodeHeader parses a NATS/1.0 header block.
func decodeHeader(b []byte) (nats.Header, error) { return nats.DecodeHeadersMsg(b) }

// directBatch reads up to req.Batch messages with direct gets, answered by
// any current replica: it returns them and whether the batch ended early
// (no more matching messages at the time).
func (s *Store) directBatch(ctx context.Context, stream string, req msgGetReq) ([]rawMsg, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	inbox := s.nc.NewRespInbox()
	// A channel of the batch's size: SubscribeSync would allocate one of
	// 64Ki messages for every call.
	ch := make(chan *nats.Msg, req.Batch+2)
	sub, err := s.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	body, _ := json.Marshal(req)
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, body); err != nil {
		return nil, err
	}
	var out []rawMsg
	for {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		switch st := m.Header.Get("Status"); st {
		case "":
		case "204": // end of batch
			return out, nil
		case "404":
			return out, nil
		default:
			return nil, fmt.Errorf("direct get: status %s %s", st, m.Header.Get("Description"))
		}
		if len(m.Data) == 0 && len(m.Header) == 0 {
			return nil, errors.New("direct get: no responders")
		}
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("direct get: sequence %q", m.Header.Get("Nats-Sequence"))
		}
		out = append(out, rawMsg{Subject: m.Header.Get("Nats-Subject"), Seq: seq, Header: m.Header, Data: m.Data})
	}
}

// deleteMsg removes a message by its stream sequence; gone is false if
// it was not there. (nats.go's Stream.DeleteMsg flattens the server's
// error into text, so "not there" could not be told from a failure.)
func (s *Store) deleteMsg(ctx context.Context, stream string, seq uint64) (gone bool, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	body, _ := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NoErase bool   `json:"no_erase"`
	}{seq, true})
	resp, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.DELETE."+stream, body)
	if err != nil {
		return false, err
	}
	var r struct {
		Success bool      `json:"success"`
		Error   *apiError `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return false, fmt.Errorf("message delete response: %w", err)
	}
	switch {
	case r.Success:
		return true, nil
	case r.Error == nil:
		return false, errors.New("message delete: unsuccessful")
	case r.Error.ErrCode == jsSequenceNotFound, r.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound),
		// JSStreamMsgDeleteFailed carries the store's "no message found".
		r.Error.ErrCode == jsMsgDeleteFailed && (strings.Contains(r.Error.Description, "no message found") || strings.Contains(r.Error.Description, "not found")):
		return false, nil
	}
	return false, fmt.Errorf("message delete: %s (%d)", r.Error.Description, r.Error.ErrCode)
}

// apiError is the error of a JetStream API response.
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

// purge removes every message of subject below seq (all when seq is 0).
func (s *Store) purge(ctx context.Context, stream, subject string, seq uint64) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	opts := []jetstream.StreamPurgeOpt{jetstream.WithPurgeSubject(subject)}
	if seq > 0 {
		opts = append(opts, jetstream.WithPurgeSequence(seq))
	}
	return s.streams[stream].Purge(ctx, opts...)
}

func hexID(b []byte) string { return hex.EncodeToString(b) }

func timeToNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosToTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
