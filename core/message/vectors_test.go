package message

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"github.com/ephemera-im/ephemera/internal/testvec"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/e2e/message-*.json")

const vectorDir = "../../testdata/e2e"

// vector is one file testdata/e2e/message-NAME.json. Byte fields are hex;
// sent_at and size are decimal strings (exact in any JSON parser).
type vector struct {
	Name     string   `json:"name"`
	Valid    bool     `json:"valid"`
	Reason   string   `json:"reason,omitempty"`
	Fields   *jsonMsg `json:"fields,omitempty"`
	Encoding string   `json:"encoding"`
}

type jsonMsg struct {
	ID         string       `json:"id"`
	SentAt     string       `json:"sent_at"`
	Timer      uint32       `json:"timer"`
	BurnOnRead bool         `json:"burn_on_read"`
	Kind       string       `json:"kind"`
	Text       *string      `json:"text,omitempty"`
	File       *jsonFile    `json:"file,omitempty"`
	Control    *jsonControl `json:"control,omitempty"`
}

type jsonFile struct {
	BlobID    string `json:"blob_id"`
	Relay     string `json:"relay"`
	Size      string `json:"size"`
	MediaType string `json:"media_type"`
	Name      string `json:"name"`
	Key       string `json:"key"`
	Hash      string `json:"hash"`
}

type jsonControl struct {
	Type uint16 `json:"type"`
	Data string `json:"data"`
}

var reasons = map[string]error{
	"too-large":    ErrTooLarge,
	"truncated":    ErrTruncated,
	"trailing":     ErrTrailing,
	"version":      ErrVersion,
	"unknown-kind": ErrUnknownKind,
	"invalid":      ErrInvalid,
}

func toJSON(m Message) *jsonMsg {
	j := &jsonMsg{
		ID:         hex.EncodeToString(m.ID[:]),
		SentAt:     strconv.FormatInt(m.SentAt, 10),
		Timer:      m.Expiry.Timer,
		BurnOnRead: m.Expiry.BurnOnRead,
		Kind:       m.Body.Kind().String(),
	}
	switch b := m.Body.(type) {
	case Text:
		s := string(b)
		j.Text = &s
	case *File:
		j.File = &jsonFile{
			BlobID: hex.EncodeToString(b.BlobID[:]), Relay: b.Relay,
			Size: strconv.FormatUint(b.Size, 10), MediaType: b.MediaType, Name: b.Name,
			Key: hex.EncodeToString(b.Key[:]), Hash: hex.EncodeToString(b.Hash[:]),
		}
	case *Control:
		j.Control = &jsonControl{Type: uint16(b.Type), Data: hex.EncodeToString(b.Data)}
	}
	return j
}

func fromJSON(t *testing.T, j *jsonMsg) Message {
	var m Message
	copy(m.ID[:], unhex(t, j.ID))
	var err error
	if m.SentAt, err = strconv.ParseInt(j.SentAt, 10, 64); err != nil {
		t.Fatal(err)
	}
	m.Expiry = Expiry{Timer: j.Timer, BurnOnRead: j.BurnOnRead}
	switch {
	case j.Kind == "text" && j.Text != nil:
		m.Body = Text(*j.Text)
	case j.Kind == "file" && j.File != nil:
		f := &File{Relay: j.File.Relay, MediaType: j.File.MediaType, Name: j.File.Name}
		copy(f.BlobID[:], unhex(t, j.File.BlobID))
		copy(f.Key[:], unhex(t, j.File.Key))
		copy(f.Hash[:], unhex(t, j.File.Hash))
		if f.Size, err = strconv.ParseUint(j.File.Size, 10, 64); err != nil {
			t.Fatal(err)
		}
		m.Body = f
	case j.Kind == "control" && j.Control != nil:
		m.Body = &Control{Type: ControlType(j.Control.Type), Data: unhex(t, j.Control.Data)}
	default:
		t.Fatalf("bad vector kind %q", j.Kind)
	}
	return m
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func genVectors(t *testing.T) []vector {
	var vs []vector
	ss := samples()
	for _, name := range []string{"text", "text-empty", "text-timer", "text-burn", "file", "delivered", "read", "timer", "key-change", "control-99"} {
		m := ss[name]
		vs = append(vs, vector{Name: name, Valid: true, Fields: toJSON(m), Encoding: hex.EncodeToString(mustMarshal(t, m))})
	}
	text := mustMarshal(t, ss["text"])
	mod := func(off int, v ...byte) []byte { b := bytes.Clone(text); copy(b[off:], v); return b }
	invalid := func(name, reason string, b []byte) vector {
		return vector{Name: "invalid-" + name, Reason: reason, Encoding: hex.EncodeToString(b)}
	}
	vs = append(vs,
		invalid("version", "version", mod(0, 2)),
		invalid("truncated", "truncated", text[:len(text)-1]),
		invalid("trailing", "trailing", append(bytes.Clone(text), 0)),
		invalid("flags", "invalid", mod(29, 0x02)),
		invalid("kind-reaction", "unknown-kind", mod(30, byte(KindReaction))),
		invalid("body-too-long", "too-large", mod(31, 0x00, 0x01, 0x00, 0x01)),
		invalid("bad-utf8", "invalid", mod(headerSize, 0xc3, 0x28)),
	)
	return vs
}

func TestVectors(t *testing.T) {
	pattern := filepath.Join(vectorDir, "message-*.json")
	if *update {
		testvec.RemoveAll(t, pattern)
		for _, v := range genVectors(t) {
			testvec.Write(t, filepath.Join(vectorDir, "message-"+v.Name+".json"), v)
		}
	}
	files := testvec.Load[vector](t, pattern)
	// The files and the generator must agree, so a change to the encoding
	// cannot pass with stale vectors (rerun with -update after a deliberate
	// change).
	gen := genVectors(t)
	if len(gen) != len(files) {
		t.Errorf("%d vector files, generator makes %d; run go test -run TestVectors -update", len(files), len(gen))
	}
	for _, v := range gen {
		got, err := os.ReadFile(filepath.Join(vectorDir, "message-"+v.Name+".json"))
		if err != nil || !bytes.Equal(got, testvec.Encode(t, v)) {
			t.Errorf("message-%s.json differs from the generator (%v); run go test -run TestVectors -update", v.Name, err)
		}
	}
	for _, f := range files {
		v := f.V
		t.Run(v.Name, func(t *testing.T) {
			enc := unhex(t, v.Encoding)
			got, err := Unmarshal(enc)
			if !v.Valid {
				want := reasons[v.Reason]
				if want == nil {
					t.Fatalf("unknown reason %q", v.Reason)
				}
				if !errors.Is(err, want) {
					t.Errorf("got error %v, want %v", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := fromJSON(t, v.Fields)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded: got %+v, want %+v", got, want)
			}
			if out := mustMarshal(t, want); !bytes.Equal(out, enc) {
				t.Errorf("encoded: got %x, want %x", out, enc)
			}
		})
	}
}
