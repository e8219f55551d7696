package natsstore

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/store/storetest"
)

// startServer runs an in-process JetStream server, with its storage in a
// temporary directory, until t ends.
func startServer(t testing.TB) *server.Server {
	t.Helper()
	opts := &server.Options{
		ServerName: "test",
		DontListen: true,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready after 10s")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func connect(t testing.TB, ns *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// factory makes each subtest a fresh server; reopen closes the Store and
// opens another on a new connection to the same server.
func factory(t *testing.T, now func() time.Time) (store.Store, func() store.Store) {
	ns := startServer(t)
	open := func() *Store {
		s, err := Open(context.Background(), connect(t, ns), Options{Now: now, CloseConn: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	cur := open()
	return cur, func() store.Store {
		cur.Close() // ErrClosed if the test closed it
		cur = open()
		return cur
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, factory)
}
