// Command natsperf is the NATS side of scripts/perf-nats.sh, so the script
// needs no nats-server binary:
//
//	natsperf server --dir DIR [--port N]
//	    runs one JetStream server (nats-server embedded) on 127.0.0.1 until
//	    SIGTERM and prints "listening nats://127.0.0.1:PORT".
//	natsperf load --urls WS1,WS2 [load flags]
//	    runs the load tool (internal/loadtest) with its clients spread over
//	    several relay nodes, and prints its JSON line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ephemera-im/ephemera/internal/loadtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: natsperf server|load [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch os.Args[1] {
	case "server":
		os.Exit(serve(ctx, os.Args[2:]))
	case "load":
		os.Exit(load(ctx, os.Args[2:]))
	}
	fmt.Fprintf(os.Stderr, "natsperf: unknown command %q\n", os.Args[1])
	os.Exit(2)
}

func serve(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	dir := fs.String("dir", "", "JetStream storage `directory`")
	port := fs.Int("port", -1, "client port (-1: any)")
	syncAlways := fs.Bool("sync-always", false, "fsync every write (jetstream sync_interval: always), as a single server must for durability")
	fs.Parse(args)
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "natsperf server: --dir is required")
		return 2
	}
	opts := &server.Options{
		ServerName: "perf", Host: "127.0.0.1", Port: *port, JetStream: true, StoreDir: *dir,
		NoLog: true, NoSigs: true, MaxPayload: 8 << 20,
	}
	if *syncAlways {
		opts.SyncAlways = true
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsperf server: %v\n", err)
		return 1
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		fmt.Fprintln(os.Stderr, "natsperf server: not ready after 10s")
		return 1
	}
	fmt.Printf("listening nats://%s\n", ns.Addr().(*net.TCPAddr))
	<-ctx.Done()
	ns.Shutdown()
	ns.WaitForShutdown()
	return 0
}

func load(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	urls := fs.String("urls", "", "relay WebSocket URLs, comma-separated")
	metrics := fs.String("metrics-url", "", "one relay's /metrics URL (figures of that node only)")
	clients := fs.Int("clients", 100, "clients, spread over the URLs in turn")
	messages := fs.Int("messages", 100, "messages per client")
	size := fs.Int("size", 1024, "envelope bytes")
	duration := fs.Duration("duration", 0, "stop sending after this long")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the run")
	label := fs.String("label", "", "copied into the JSON line")
	fs.Parse(args)
	list := strings.Split(*urls, ",")
	if *urls == "" {
		fmt.Fprintln(os.Stderr, "natsperf load: --urls is required")
		return 2
	}
	res, err := loadtest.Run(ctx, loadtest.Config{
		URLs: list, MetricsURL: *metrics, Clients: *clients, Messages: *messages, Size: *size,
		Duration: *duration, Timeout: *timeout, Label: *label,
	})
	json.NewEncoder(os.Stdout).Encode(res)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsperf load: %v\n", err)
		return 1
	}
	if res.Failed() {
		return 1
	}
	return 0
}
