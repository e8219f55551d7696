package relay

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
)

// Buffer sizes of an upgraded connection. net/http hands a hijacked
// connection over with 4 KiB read and write buffers that the WebSocket
// library keeps for the connection's life: 8 KiB of an idle connection's
// ~20 KiB budget. Frames larger than a buffer are read and written past
// it, so smaller buffers cost at most an extra syscall for large frames.
const (
	connReadBuffer  = 1 << 10
	connWriteBuffer = 2 << 10
)

// leanHijacker makes websocket.Accept use smaller buffers: its Hijack
// returns the connection with new, smaller bufio buffers, carrying over
// any bytes the client sent right after its upgrade request.
type leanHijacker struct{ http.ResponseWriter }

func (h leanHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h leanHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The 101 response was flushed by Hijack; brw.Writer holds nothing.
	var r io.Reader = nc
	if n := brw.Reader.Buffered(); n > 0 {
		pending, _ := brw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), nc)
	}
	return nc, bufio.NewReadWriter(bufio.NewReaderSize(r, connReadBuffer), bufio.NewWriterSize(nc, connWriteBuffer)), nil
}
