package relayclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ephemera-im/ephemera/net/wire"
)

// ErrBlobIncomplete is returned by DownloadBlob for a blob whose upload has
// not finished.
var ErrBlobIncomplete = errors.New("relayclient: blob upload not complete")

// ErrBlobSize is returned by DownloadBlob when the relay's blob is not the
// size the caller expects (the size a file message names): a relay that
// serves a bigger blob cannot make the download run on.
var ErrBlobSize = errors.New("relayclient: blob is not the expected size")

// BlobStatus is how much of a blob the relay holds.
type BlobStatus struct {
	Size    int64
	Have    int64 // the blob is complete when Have == Size
	Expires time.Time
}

// chunkSize is the size of one BlobPut or BlobGet on s.
func chunkSize(s *session) int64 {
	n := int64(s.hello.MaxChunk)
	if n <= 0 || n > wire.MaxChunkSize {
		n = wire.MaxChunkSize
	}
	return n
}

// StatBlob asks the relay how much of blob id it holds.
func (c *Client) StatBlob(ctx context.Context, id wire.BlobID) (BlobStatus, error) {
	st, _, err := do[*wire.BlobStatus](ctx, c, "stat blob", func(*session) (wire.Message, error) {
		return &wire.BlobStat{Blob: id}, nil
	})
	if err != nil {
		return BlobStatus{}, err
	}
	return toBlobStatus(st)
}

func toBlobStatus(st *wire.BlobStatus) (BlobStatus, error) {
	if st.Size > 1<<62 || st.Have > st.Size {
		return BlobStatus{}, fmt.Errorf("%w: blob status has %d of %d bytes", ErrProtocol, st.Have, st.Size)
	}
	return BlobStatus{Size: int64(st.Size), Have: int64(st.Have), Expires: time.Unix(int64(st.Expires), 0)}, nil
}

// UploadBlob creates a blob of size bytes charged to the authenticated
// mailbox owner, kept for ttl (0: the relay's default), and uploads r into
// it in chunks of the relay's MaxChunk, calling progress (if not nil) after
// each chunk. If the upload fails after the blob was created, the returned
// id is not zero and ResumeUpload continues it.
func (c *Client) UploadBlob(ctx context.Context, owner wire.MailboxID, r io.ReaderAt, size int64, ttl time.Duration, progress func(done, total int64)) (wire.BlobID, error) {
	if size < 0 {
		return wire.BlobID{}, fmt.Errorf("relayclient: upload blob: negative size %d", size)
	}
	created, _, err := do[*wire.BlobCreated](ctx, c, "create blob", func(s *session) (wire.Message, error) {
		if m := s.hello.MaxBlob; m > 0 && uint64(size) > m {
			return nil, &wire.Error{Code: wire.CodeTooLarge, Message: fmt.Sprintf("blob is %d bytes, relay limit %d", size, m)}
		}
		return &wire.BlobCreate{Mailbox: owner, Size: uint64(size), TTL: ttlSeconds(ttl)}, nil
	})
	if err != nil {
		return wire.BlobID{}, err
	}
	return created.Blob, c.upload(ctx, owner, created.Blob, r, size, 0, progress)
}

// ResumeUpload continues an interrupted upload of r (size bytes) to blob
// id: it asks the relay how much it has and uploads the rest.
func (c *Client) ResumeUpload(ctx context.Context, owner wire.MailboxID, id wire.BlobID, r io.ReaderAt, size int64, progress func(done, total int64)) error {
	st, err := c.StatBlob(ctx, id)
	if err != nil {
		return err
	}
	if st.Size != size {
		return fmt.Errorf("relayclient: resume upload: blob %v is %d bytes, not %d", id, st.Size, size)
	}
	return c.upload(ctx, owner, id, r, size, st.Have, progress)
}

// upload sends r[have:size] one chunk at a time. Chunks are not pipelined:
// the relay takes a chunk only at the offset it has reached.
func (c *Client) upload(ctx context.Context, owner wire.MailboxID, id wire.BlobID, r io.ReaderAt, size, have int64, progress func(done, total int64)) error {
	var buf []byte
	for have < size {
		st, _, err := do[*wire.BlobStatus](ctx, c, "upload blob", func(s *session) (wire.Message, error) {
			n := min(chunkSize(s), size-have)
			if int64(cap(buf)) < n {
				buf = make([]byte, n)
			}
			k, err := r.ReadAt(buf[:n], have)
			if int64(k) < n {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, fmt.Errorf("reading at %d: %w", have, err)
			}
			return &wire.BlobPut{Mailbox: owner, Blob: id, Offset: uint64(have), Data: buf[:n]}, nil
		})
		if err != nil {
			return err
		}
		if st.Size != uint64(size) || st.Have <= uint64(have) || st.Have > uint64(size) {
			return fmt.Errorf("relayclient: upload blob: %w: relay has %d of %d bytes after a write at %d", ErrProtocol, st.Have, st.Size, have)
		}
		have = int64(st.Have)
		if progress != nil {
			progress(have, size)
		}
	}
	return nil
}

// DownloadBlob writes blob id to w from offset on, in chunks of the relay's
// MaxChunk, calling progress (if not nil) after each chunk with the offset
// reached. It returns the bytes written; after an interruption, call it
// again with offset advanced by them to resume. size is the blob's size as
// the caller knows it: a blob of another size is refused (ErrBlobSize)
// before anything is read, so at most size bytes are ever written. A
// negative size accepts the relay's.
func (c *Client) DownloadBlob(ctx context.Context, id wire.BlobID, w io.Writer, offset, size int64, progress func(done, total int64)) (int64, error) {
	st, err := c.StatBlob(ctx, id)
	if err != nil {
		return 0, err
	}
	if size >= 0 && st.Size != size {
		return 0, fmt.Errorf("relayclient: download blob %v: %w: the relay has %d bytes, want %d", id, ErrBlobSize, st.Size, size)
	}
	if st.Have < st.Size {
		return 0, fmt.Errorf("relayclient: download blob %v: %w (%d of %d bytes)", id, ErrBlobIncomplete, st.Have, st.Size)
	}
	if offset < 0 || offset > st.Size {
		return 0, fmt.Errorf("relayclient: download blob %v: offset %d outside its %d bytes", id, offset, st.Size)
	}
	var written int64
	for off := offset; off < st.Size; {
		var want int64
		data, _, err := do[*wire.BlobData](ctx, c, "download blob", func(s *session) (wire.Message, error) {
			want = min(chunkSize(s), st.Size-off)
			return &wire.BlobGet{Blob: id, Offset: uint64(off), Length: uint32(want)}, nil
		})
		if err != nil {
			return written, err
		}
		if data.Offset != uint64(off) || len(data.Data) == 0 || int64(len(data.Data)) > want {
			return written, fmt.Errorf("relayclient: download blob: %w: asked %d bytes at %d, got %d at %d", ErrProtocol, want, off, len(data.Data), data.Offset)
		}
		n, err := w.Write(data.Data)
		written += int64(n)
		off += int64(n)
		if err != nil {
			return written, fmt.Errorf("relayclient: download blob: %w", err)
		}
		if progress != nil {
			progress(off, st.Size)
		}
	}
	return written, nil
}
