package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ephemera-im/ephemera/net/relay/embedded"
)

func TestMain(m *testing.M) {
	allowInsecureKDF = true
	testscript.Main(m, map[string]func(){
		"ephemera-cli": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the txtar scripts in testdata/script as a user would
// run the binary.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		// Each script gets its own real relay on a loopback port: $RELAY.
		Setup: func(env *testscript.Env) error {
			r, err := embedded.Start(context.Background(), embedded.Options{DataDir: filepath.Join(env.WorkDir, ".relay"), Addr: "127.0.0.1:0"})
			if err != nil {
				return err
			}
			env.Defer(func() { r.Close() })
			env.Setenv("RELAY", r.URL())
			env.Setenv("EPHEMERA_INSECURE_TEST_KDF", "1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// truncate FILE SIZE cuts FILE to SIZE bytes.
			"truncate": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: truncate FILE SIZE")
				}
				n, err := strconv.ParseInt(args[1], 10, 64)
				ts.Check(err)
				ts.Check(os.Truncate(ts.MkAbs(args[0]), n))
			},
			// overwrite FILE fills FILE with 'Z's, keeping its size.
			"overwrite": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: overwrite FILE")
				}
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), bytes.Repeat([]byte{'Z'}, len(b)), 0o600))
			},
			// lastline VAR sets VAR to the last line of the previous
			// command's standard output (an invite code, a message id).
			"lastline": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: lastline VAR")
				}
				lines := strings.Split(strings.TrimRight(ts.ReadFile("stdout"), "\n"), "\n")
				ts.Setenv(args[0], lines[len(lines)-1])
			},
		},
	})
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		pos  []string
		json bool
		exp  string
	}{
		{"flags first", []string{"--json", "--expire", "30s", "Bob", "hi"}, []string{"Bob", "hi"}, true, "30s"},
		{"flags last", []string{"Bob", "hi", "--expire", "30s", "--json"}, []string{"Bob", "hi"}, true, "30s"},
		{"flags between", []string{"Bob", "--expire=1m", "hi"}, []string{"Bob", "hi"}, false, "1m"},
		{"double dash", []string{"Bob", "--", "--json", "-x"}, []string{"Bob", "--json", "-x"}, false, ""},
		{"none", nil, nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			js := fs.Bool("json", false, "")
			exp := fs.String("expire", "", "")
			pos, err := parseInterspersed(fs, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pos, tc.pos) || *js != tc.json || *exp != tc.exp {
				t.Errorf("got pos=%q json=%v expire=%q, want pos=%q json=%v expire=%q", pos, *js, *exp, tc.pos, tc.json, tc.exp)
			}
		})
	}
}
