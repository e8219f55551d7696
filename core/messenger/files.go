package messenger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ephemera-im/ephemera/core/media"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/storage/stream"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// Files travel as relay blobs: the sanitized file is stored in our vault
// (our copy), then encrypted under a fresh key with storage/stream into a
// file of ciphertext in the profile's transfer folder, uploaded to our
// relay as a blob (resumed after an interruption), and announced by a file
// message carrying the blob id, key and SHA-256 of the ciphertext. The
// receiver downloads the ciphertext into its transfer folder (resuming),
// checks the hash, decrypts it into its vault and deletes the download.
// No plaintext is ever written outside the vault, and memory stays flat
// whatever the file's size.

const (
	xferDir     = "transfers"
	setXfers    = "xfers"     // setting: []string of pending transfer ids (message ids)
	setXferItem = "xfer/item" // setting prefix: xferRec by message id
)

// xferRec is a pending upload or download, kept until it completes.
type xferRec struct {
	MessageID string `json:"mid"`
	Contact   string `json:"contact"`
	Upload    bool   `json:"upload"`
	Path      string `json:"path"` // ciphertext file, relative to the profile folder
	// Key and Hash are only read, from records of older versions: the
	// transfer key and hash live in the message's record (FileInfo),
	// which a disappearing message keeps sealed under its own key slot,
	// shredded with it; this record is an ordinary one.
	Key    []byte        `json:"key,omitempty"`
	Hash   []byte        `json:"hash,omitempty"`
	Size   int64         `json:"size"` // ciphertext bytes
	BlobID wire.BlobID   `json:"blob"`
	Relay  string        `json:"relay"`
	Owner  string        `json:"owner"` // mailbox hex the upload is charged to
	TTL    time.Duration `json:"ttl"`
	Expiry uint32        `json:"expiry"`
	Burn   bool          `json:"burn"`
	// Attempts counts downloads whose ciphertext did not match its hash
	// (or that the relay broke off with a protocol error).
	Attempts int `json:"attempts,omitempty"`
}

// maxDownloadAttempts bounds the downloads of one file that end in a
// hash mismatch or a relay protocol error: after that many the file is
// marked failed (FileDamaged) and nothing is retried until the user asks
// (Download). Attempts after a mismatch run at once, without a wait.
const maxDownloadAttempts = 3

// errRetryNow asks the transfer loop to run a transfer again at once.
var errRetryNow = errors.New("messenger: retry the transfer now")

// transfers tracks running transfers.
type transfers struct {
	mu      sync.Mutex
	queue   []string
	wake    chan struct{}
	running atomic.Int64
	cancels map[string]context.CancelFunc // running transfers by message id
}

// started registers a running transfer's cancel function.
func (x *transfers) started(id string, cancel context.CancelFunc) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.cancels == nil {
		x.cancels = map[string]context.CancelFunc{}
	}
	x.cancels[id] = cancel
}

func (x *transfers) finished(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.cancels, id)
}

// cancel drops a queued transfer and stops a running one; it says
// whether one was running (which then removes its own file).
func (x *transfers) cancel(id string) (running bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.queue = slices.DeleteFunc(x.queue, func(q string) bool { return q == id })
	if c := x.cancels[id]; c != nil {
		c()
		return true
	}
	return false
}

func (x *transfers) idle() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.queue) == 0 && x.running.Load() == 0
}

func (x *transfers) push(id string) {
	x.mu.Lock()
	x.queue = append(x.queue, id)
	x.mu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

func (x *transfers) pop() (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.queue) == 0 {
		return "", false
	}
	id := x.queue[0]
	x.queue = x.queue[1:]
	x.running.Add(1)
	return id, true
}

// FileOptions are the choices for SendFile.
type FileOptions struct {
	SendOptions
	// AsIs sends a file the sanitizer cannot handle unchanged. Without
	// it, such a file is refused with an error matching
	// media.ErrUnsupported.
	AsIs bool
	// Name replaces the file's name as the contact sees it.
	Name string
}

// SendFile sanitizes the file at path, stores it in our vault and sends
// it to a contact in the background. It returns the message (state
// queued) and the sanitizer's report of what was removed.
func (m *Messenger) SendFile(ctx context.Context, contact, path string, opts FileOptions) (Message, media.Report, error) {
	c, err := m.findContact(contact)
	if err != nil {
		return Message{}, media.Report{}, err
	}
	if err := c.canSend(); err != nil {
		return Message{}, media.Report{}, err
	}
	exp, err := opts.expiry(c)
	if err != nil {
		return Message{}, media.Report{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Message{}, media.Report{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Message{}, media.Report{}, err
	}
	if st.IsDir() {
		return Message{}, media.Report{}, fmt.Errorf("messenger: %s is a folder; send files one by one", path)
	}
	// Sanitize straight into the vault.
	pr, pw := io.Pipe()
	var rep media.Report
	var mediaType string
	go func() {
		r, err := media.Sanitize(f, st.Size(), pw)
		rep = r
		if errors.Is(err, media.ErrUnsupported) && opts.AsIs {
			_, err = io.Copy(pw, io.NewSectionReader(f, 0, st.Size()))
		}
		pw.CloseWithError(err)
	}()
	attID, err := m.v.PutAttachment(pr)
	pr.CloseWithError(err)
	if err != nil {
		return Message{}, rep, fmt.Errorf("messenger: %s: %w", path, err)
	}
	mediaType = string(rep.Type)
	if mediaType == "" || rep.Type == media.Unknown {
		mediaType = "application/octet-stream"
	}
	att, err := m.v.OpenAttachment(attID)
	if err != nil {
		return Message{}, rep, err
	}
	defer att.Close()
	name := opts.Name
	if name == "" {
		name = filepath.Base(path)
	}
	if len(name) > message.MaxFileName {
		name = name[len(name)-message.MaxFileName:]
	}
	// Encrypt for the transfer.
	key := make([]byte, stream.KeySize)
	if _, err := io.ReadFull(m.rand, key); err != nil {
		return Message{}, rep, err
	}
	id, err := randomHex(m.rand, 16)
	if err != nil {
		return Message{}, rep, err
	}
	// A relay refuses blobs above its limit: say so now rather than
	// after the upload.
	if rc, err := m.readConn(m.resolve(c.Mine.Relay), c.ID); err == nil {
		if hello, ok := rc.client.Hello(); ok && hello.MaxBlob > 0 && uint64(stream.EncryptedSize(att.Size())) > hello.MaxBlob {
			m.v.DeleteAttachment(attID)
			return Message{}, rep, fmt.Errorf("%w: %s is %d bytes; the relay takes files up to about %d bytes",
				ErrFileTooLarge, name, att.Size(), hello.MaxBlob-hello.MaxBlob/65536*16-64)
		}
	}
	rel := filepath.Join(xferDir, id+".up")
	h, size, err := m.writeCiphertext(rel, att, key)
	if err != nil {
		return Message{}, rep, err
	}
	var removed []string
	for _, it := range rep.Items {
		removed = append(removed, it.Label)
	}
	hist := &msgRec{ID: id, Kind: KindFile, Outgoing: true, File: &FileInfo{Name: name, Size: att.Size(), Type: mediaType,
		Have: true, Attach: string(attID), Removed: removed, Key: key, Hash: h}}
	x := xferRec{MessageID: id, Contact: c.ID, Upload: true, Path: rel, Size: size,
		Relay: c.Mine.Relay, Owner: hex.EncodeToString(c.Mine.ID[:]), Expiry: exp.Timer, Burn: exp.BurnOnRead}
	x.TTL = blobTTL(exp)
	now := m.now().UTC()
	hist.SentAt, hist.State, hist.Timer, hist.Burn = now, StateQueued, exp.Timer, exp.BurnOnRead
	vm := vault.Message{Conversation: c.ID, ID: id, Time: now, Body: mustJSON(hist), Attachments: []vault.AttachmentID{attID}}
	if exp.Timer > 0 {
		vm.Expires = now.Add(time.Duration(exp.Timer) * time.Second)
	}
	err = m.v.Update(func(t *vault.Tx) error {
		vm, err = t.AddMessage(vm)
		if err != nil {
			return err
		}
		if err := t.PutSetting(setMsgIndex+id, mustJSON(msgIndex{Conversation: c.ID, Seq: vm.Seq})); err != nil {
			return err
		}
		return putXfer(t, x)
	})
	if err != nil {
		os.Remove(filepath.Join(m.cfg.Dir, rel))
		m.v.DeleteAttachment(attID)
		return Message{}, rep, err
	}
	pm := publicMessage(vm, hist)
	m.hub.post(MessageAdded{Message: pm})
	m.xfers.push(id)
	return pm, rep, nil
}

// minBurnBlobTTL is the shortest relay lifetime of a burn-on-read file's
// blob: the recipient must be able to fetch it before reading starts the
// countdown.
const minBurnBlobTTL = 24 * time.Hour

// blobTTL is how long the relay keeps a file's blob: the message's timer
// when it expires after sending; for burn-on-read, the timer but at least
// minBurnBlobTTL; the relay's default (30 days by default) when the
// message does not expire.
func blobTTL(exp message.Expiry) time.Duration {
	d := time.Duration(exp.Timer) * time.Second
	switch {
	case exp.Timer == 0:
		return 0
	case exp.BurnOnRead:
		return max(d, minBurnBlobTTL)
	}
	return d
}

// writeCiphertext encrypts r under key into the transfer file rel and
// returns the ciphertext's SHA-256 and size.
func (m *Messenger) writeCiphertext(rel string, r io.Reader, key []byte) ([]byte, int64, error) {
	path := filepath.Join(m.cfg.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, 0, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, 0, err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	sw, err := stream.NewWriter(cw, key)
	if err == nil {
		_, err = io.Copy(sw, r)
		err = errors.Join(err, sw.Close())
	}
	err = errors.Join(err, f.Sync(), f.Close())
	if err != nil {
		os.Remove(path)
		return nil, 0, err
	}
	return h.Sum(nil), cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func putXfer(t *vault.Tx, x xferRec) error {
	ids, err := getJSON[[]string](t.Setting(setXfers))
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	found := false
	for _, id := range ids {
		found = found || id == x.MessageID
	}
	if !found {
		ids = append(ids, x.MessageID)
		if err := t.PutSetting(setXfers, mustJSON(ids)); err != nil {
			return err
		}
	}
	return t.PutSetting(setXferItem+x.MessageID, mustJSON(x))
}

func dropXfer(t *vault.Tx, id string) error {
	ids, err := getJSON[[]string](t.Setting(setXfers))
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	if err := t.PutSetting(setXfers, mustJSON(out)); err != nil {
		return err
	}
	return t.DeleteSetting(setXferItem + id)
}

// autoDownload says whether a file of size bytes is fetched unasked; it
// runs on the writer, which holds m.mu.
func (m *Messenger) autoDownload(size int64) bool {
	limit := m.prof.Settings.AutoDownloadLimit
	if limit == 0 {
		limit = DefaultAutoDownloadLimit
	}
	return limit > 0 && size <= limit
}

// queueDownload records a download for a received file message and
// starts it.
func (m *Messenger) queueDownload(id string) {
	err := m.v.Update(func(t *vault.Tx) error {
		vm, rec, err := messageByID(t, id)
		if err != nil {
			return err
		}
		if rec.File == nil || rec.File.Have {
			return nil
		}
		if rec.File.Failed != "" {
			// Asked for again (Download): a new start.
			rec.File.Failed = ""
			vm.Body = mustJSON(rec)
			if err := t.UpdateMessage(vm); err != nil {
				return err
			}
		}
		var blob wire.BlobID
		b, err := hex.DecodeString(rec.File.BlobID)
		if err != nil || len(b) != len(blob) {
			return fmt.Errorf("messenger: bad blob id in message")
		}
		copy(blob[:], b)
		return putXfer(t, xferRec{MessageID: id, Contact: vm.Conversation, Path: filepath.Join(xferDir, id+".down"),
			BlobID: blob, Relay: rec.File.Relay})
	})
	if err != nil {
		m.log.Warn("cannot queue a download", "err", err)
		return
	}
	m.xfers.push(id)
}

// Download fetches a received file that was not downloaded automatically.
func (m *Messenger) Download(id string) error {
	var have bool
	err := m.v.View(func(t *vault.Tx) error {
		_, rec, err := messageByID(t, id)
		if err != nil {
			return err
		}
		if rec.File == nil {
			return fmt.Errorf("messenger: message %s is not a file", id)
		}
		have = rec.File.Have
		return nil
	})
	if err != nil || have {
		return err
	}
	m.queueDownload(id)
	return nil
}

// transferLoop runs uploads and downloads one at a time, resuming those
// left by an earlier run.
func (m *Messenger) transferLoop() {
	defer m.wg.Done()
	ids, err := getJSON[[]string](m.v.Setting(setXfers))
	if err == nil {
		for _, id := range ids {
			m.xfers.push(id)
		}
	}
	for {
		id, ok := m.xfers.pop()
		if !ok {
			select {
			case <-m.ctx.Done():
				return
			case <-m.xfers.wake:
			}
			continue
		}
		err := m.runTransfer(id)
		m.xfers.running.Add(-1)
		if errors.Is(err, errRetryNow) {
			m.xfers.push(id)
			continue
		}
		if err != nil && m.ctx.Err() == nil {
			m.log.Warn("transfer failed; will retry", "err", err)
			time.AfterFunc(5*time.Second, func() { m.xfers.push(id) })
		}
	}
}

func (m *Messenger) runTransfer(id string) error {
	x, err := getJSON[xferRec](m.v.Setting(setXferItem + id))
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(m.ctx)
	m.xfers.started(id, cancel)
	defer func() {
		m.xfers.finished(id)
		cancel()
	}()
	if x.Upload {
		err = m.upload(ctx, x)
	} else {
		err = m.download(ctx, x)
	}
	if err != nil && ctx.Err() != nil && m.ctx.Err() == nil {
		// Cancelled by CancelTransfer, which dropped the record: the
		// partial ciphertext goes too, and nothing is retried.
		os.Remove(filepath.Join(m.cfg.Dir, x.Path))
		return nil
	}
	return err
}

// CancelTransfer stops a file transfer, running or queued. A cancelled
// download can be started again with Download; a cancelled upload fails
// its message, which is never sent.
func (m *Messenger) CancelTransfer(id string) error {
	var out Message
	var x xferRec
	err := m.v.Update(func(t *vault.Tx) error {
		var err error
		x, err = getJSON[xferRec](t.Setting(setXferItem + id))
		if errors.Is(err, vault.ErrNotFound) {
			return fmt.Errorf("messenger: no transfer of message %s is running", id)
		}
		if err != nil {
			return err
		}
		if err := dropXfer(t, id); err != nil {
			return err
		}
		if !x.Upload {
			return nil
		}
		pm, ok, err := setState(t, id, StateFailed)
		if ok {
			out = pm
		}
		return err
	})
	if err != nil {
		return err
	}
	if !m.xfers.cancel(id) {
		os.Remove(filepath.Join(m.cfg.Dir, x.Path))
	}
	if x.Upload && out.ID != "" {
		m.hub.post(MessageUpdated{Message: out})
	}
	return nil
}

func (m *Messenger) progress(id string, upload bool) func(done, total int64) {
	var th progressThrottle
	return func(done, total int64) {
		if th.due(time.Now(), done, total) {
			m.hub.post(TransferProgress{MessageID: id, Upload: upload, Done: done, Total: total})
		}
	}
}

func (m *Messenger) upload(ctx context.Context, x xferRec) error {
	path := filepath.Join(m.cfg.Dir, x.Path)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := m.readConn(m.resolve(x.Relay), x.Contact)
	if err != nil {
		return err
	}
	var owner wire.MailboxID
	if b, err := hex.DecodeString(x.Owner); err == nil && len(b) == len(owner) {
		copy(owner[:], b)
	}
	prog := m.progress(x.MessageID, true)
	if x.BlobID == (wire.BlobID{}) {
		blob, err := rc.client.UploadBlob(ctx, owner, f, x.Size, x.TTL, prog)
		if blob != (wire.BlobID{}) && err != nil {
			x.BlobID = blob
			m.v.Update(func(t *vault.Tx) error { return putXfer(t, x) })
		}
		if err != nil {
			return m.uploadFailed(x, path, err)
		}
		x.BlobID = blob
	} else if err := rc.client.ResumeUpload(ctx, owner, x.BlobID, f, x.Size, prog); err != nil {
		return m.uploadFailed(x, path, err)
	}
	// Uploaded: announce it. The file message is encrypted now, with the
	// message id our copy already has.
	m.mu.Lock()
	err = m.update(func(t *vault.Tx) error {
		if _, err := t.Setting(setXferItem + x.MessageID); err != nil {
			return err // ErrNotFound: cancelled meanwhile
		}
		c, err := contactIn(t, x.Contact)
		if err != nil {
			return err
		}
		_, rec, err := messageByID(t, x.MessageID)
		if err != nil {
			return err
		}
		fm := &message.File{Relay: m.resolve(x.Relay), Size: uint64(rec.File.Size), MediaType: rec.File.Type, Name: rec.File.Name}
		copy(fm.BlobID[:], x.BlobID[:])
		key, hash := rec.File.Key, rec.File.Hash
		if len(key) == 0 { // a transfer queued by an older version
			key, hash = x.Key, x.Hash
		}
		copy(fm.Key[:], key)
		copy(fm.Hash[:], hash)
		if err := m.queueAs(t, c, fm, message.Expiry{Timer: x.Expiry, BurnOnRead: x.Burn}, x.MessageID); err != nil {
			return err
		}
		return dropXfer(t, x.MessageID)
	})
	m.mu.Unlock()
	if errors.Is(err, vault.ErrNotFound) || errors.Is(err, ErrUnknownMessage) || errors.Is(err, ErrUnknownContact) {
		// The message expired or the contact went meanwhile.
		m.v.Update(func(t *vault.Tx) error { return dropXfer(t, x.MessageID) })
		os.Remove(path)
		return nil
	}
	if err != nil {
		return err
	}
	os.Remove(path)
	m.wakeOutbox()
	return nil
}

// downloadAgain records a download that came out wrong (cause) and runs
// it again from the start, or marks the file failed after
// maxDownloadAttempts.
func (m *Messenger) downloadAgain(x xferRec, path string, cause error) error {
	os.Remove(path)
	x.Attempts++
	m.log.Warn("a download came out wrong", "attempt", x.Attempts, "of", maxDownloadAttempts, "err", cause)
	if x.Attempts >= maxDownloadAttempts {
		return m.downloadFailed(x, path, FileDamaged)
	}
	err := m.v.Update(func(t *vault.Tx) error {
		if _, err := t.Setting(setXferItem + x.MessageID); err != nil {
			return err // cancelled meanwhile
		}
		return putXfer(t, x)
	})
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return errRetryNow
}

// downloadFailed gives up a download for the reason given: the file's
// message says so (FileInfo.Failed, reported by MessageUpdated), and only
// Download starts it again.
func (m *Messenger) downloadFailed(x xferRec, path string, why FileFailure) error {
	os.Remove(path)
	var out Message
	err := m.v.Update(func(t *vault.Tx) error {
		if err := dropXfer(t, x.MessageID); err != nil {
			return err
		}
		vm, rec, err := messageByID(t, x.MessageID)
		if errors.Is(err, vault.ErrNotFound) || errors.Is(err, ErrUnknownMessage) {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.File == nil {
			return nil
		}
		rec.File.Failed = why
		vm.Body = mustJSON(rec)
		if err := t.UpdateMessage(vm); err != nil {
			return err
		}
		out = publicMessage(vm, rec)
		return nil
	})
	if err != nil {
		return err
	}
	if out.ID != "" {
		m.hub.post(MessageUpdated{Message: out})
	}
	return nil
}

// uploadFailed decides what an upload error means: the relay refusing
// the blob for good (too large, over quota, unknown mailbox) fails the
// message; anything else is retried.
func (m *Messenger) uploadFailed(x xferRec, path string, err error) error {
	var we *wire.Error
	if !errors.As(err, &we) || (we.Code != wire.CodeTooLarge && we.Code != wire.CodeQuota && we.Code != wire.CodeNotFound) {
		return err
	}
	m.log.Warn("the relay refused a file", "code", we.Code)
	var out Message
	uerr := m.v.Update(func(t *vault.Tx) error {
		if err := dropXfer(t, x.MessageID); err != nil {
			return err
		}
		pm, ok, err := setState(t, x.MessageID, StateFailed)
		if ok {
			out = pm
		}
		return err
	})
	if uerr != nil {
		return uerr
	}
	os.Remove(path)
	if out.ID != "" {
		m.hub.post(MessageUpdated{Message: out})
	}
	return nil
}

func (m *Messenger) download(ctx context.Context, x xferRec) error {
	path := filepath.Join(m.cfg.Dir, x.Path)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	// The file message names the plaintext size; the ciphertext is
	// exactly its stream encryption, and the download stops there.
	// So do its key and hash, kept in the message's record only.
	var size int64
	key, hash := x.Key, x.Hash
	err = m.v.View(func(t *vault.Tx) error {
		_, rec, err := messageByID(t, x.MessageID)
		if err == nil && rec.File != nil {
			size = rec.File.Size
			key, hash = rec.File.Key, rec.File.Hash
		}
		return err
	})
	if errors.Is(err, vault.ErrNotFound) || errors.Is(err, ErrUnknownMessage) {
		m.v.Update(func(t *vault.Tx) error { return dropXfer(t, x.MessageID) })
		f.Close()
		os.Remove(path)
		return nil
	}
	if err != nil {
		return err
	}
	want := stream.EncryptedSize(max(size, 0))
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if have > want {
		if err := f.Truncate(0); err != nil {
			return err
		}
		if have, err = f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	// Download on the connection that sends to the file's sender: the
	// blob is charged to their mailbox, so a connection that reads ours
	// would link the two.
	var dest wire.MailboxID
	if c, err := m.findContact(x.Contact); err == nil {
		dest = c.Theirs.ID
	}
	rc, err := m.sendConn(m.resolve(x.Relay), dest)
	if err != nil {
		return err
	}
	_, err = rc.client.DownloadBlob(ctx, x.BlobID, f, have, want, m.progress(x.MessageID, false))
	var we *wire.Error
	switch {
	case errors.Is(err, relayclient.ErrBlobSize):
		m.log.Warn("a relay served a file of the wrong size", "err", err)
		return m.downloadFailed(x, path, FileWrongSize)
	case errors.As(err, &we) && we.Code == wire.CodeNotFound:
		return m.downloadFailed(x, path, FileGone)
	case errors.Is(err, relayclient.ErrProtocol):
		return m.downloadAgain(x, path, err)
	case err != nil:
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	// Check the ciphertext, then decrypt it into the vault.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if !bytesEqual(h.Sum(nil), hash) {
		return m.downloadAgain(x, path, errors.New("messenger: downloaded file does not match its hash"))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	sr, err := stream.NewReader(f, key)
	if err != nil {
		return err
	}
	attID, err := m.v.PutAttachment(sr)
	if err != nil {
		return err
	}
	var out Message
	err = m.v.Update(func(t *vault.Tx) error {
		vm, rec, err := messageByID(t, x.MessageID)
		if err != nil {
			return err
		}
		rec.File.Have, rec.File.Attach = true, string(attID)
		vm.Body = mustJSON(rec)
		vm.Attachments = append(vm.Attachments, attID)
		if err := t.UpdateMessage(vm); err != nil {
			return err
		}
		out = publicMessage(vm, rec)
		return dropXfer(t, x.MessageID)
	})
	if err != nil {
		m.v.DeleteAttachment(attID)
		if errors.Is(err, vault.ErrNotFound) || errors.Is(err, ErrUnknownMessage) {
			m.v.Update(func(t *vault.Tx) error { return dropXfer(t, x.MessageID) })
			os.Remove(path)
			return nil
		}
		return err
	}
	os.Remove(path)
	m.hub.post(MessageUpdated{Message: out})
	return nil
}

// OpenFile opens the stored contents of a file message for reading.
func (m *Messenger) OpenFile(id string) (*vault.Attachment, FileInfo, error) {
	var info FileInfo
	err := m.v.View(func(t *vault.Tx) error {
		_, rec, err := messageByID(t, id)
		if err != nil {
			return err
		}
		if rec.File == nil {
			return fmt.Errorf("messenger: message %s is not a file", id)
		}
		if !rec.File.Have {
			return fmt.Errorf("messenger: file %s is not downloaded yet", id)
		}
		info = *rec.File
		return nil
	})
	if err != nil {
		return nil, info, err
	}
	a, err := m.v.OpenAttachment(vault.AttachmentID(info.Attach))
	return a, info, err
}

// SaveFile writes a received (or sent) file to path, which must not
// exist yet.
func (m *Messenger) SaveFile(id, path string) error {
	a, _, err := m.OpenFile(id)
	if err != nil {
		return err
	}
	defer a.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, a); err != nil {
		out.Close()
		os.Remove(path)
		return err
	}
	return out.Close()
}

// ExportBackup writes the whole profile (vault, key file, attachments) to
// path as one file encrypted under backupPass. The backup is marked as
// one, so that a profile restored from it renews every session before
// sending (restore.go).
func (m *Messenger) ExportBackup(path string, backupPass []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = m.submit(&job{run: func(t *vault.Tx) error { return t.PutSetting(setRestored, []byte{1}) }})
	if err == nil {
		err = m.v.Export(f, backupPass, vault.ExportOptions{InsecureTestKDF: m.cfg.InsecureTestKDF})
		err = errors.Join(err, m.submit(&job{run: func(t *vault.Tx) error { return t.DeleteSetting(setRestored) }}))
	}
	err = errors.Join(err, f.Sync(), f.Close())
	if err != nil {
		os.Remove(path)
	}
	return err
}

// ImportBackup restores a backup made by ExportBackup into dir, which must
// be empty or absent. Open it afterwards with the profile's passphrase.
// insecureTestKDF lets a backup made with test parameters in (tests only).
func ImportBackup(path string, backupPass []byte, dir string, insecureTestKDF bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return vault.Import(f, backupPass, dir, vault.Options{InsecureTestKDF: insecureTestKDF})
}
