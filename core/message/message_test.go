package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleFile() *File {
	f := &File{
		Relay:     "wss://relay.example/v1/ws",
		Size:      123456,
		MediaType: "image/png",
		Name:      "photo.png",
	}
	for i := range 32 {
		f.BlobID[i] = byte(i)
		f.Key[i] = byte(0x40 + i)
		f.Hash[i] = byte(0x80 + i)
	}
	return f
}

func samples() map[string]Message {
	id := ID{0: 1, 15: 0xff}
	return map[string]Message{
		"text":       {ID: id, SentAt: 1767225600000, Body: Text("hello, ephemera")},
		"text-empty": {ID: id, Body: Text("")},
		"text-max":   {ID: id, SentAt: 1, Body: Text(strings.Repeat("é", MaxText/2))},
		"text-timer": {ID: id, SentAt: 1767225600000, Expiry: Expiry{Timer: 3600}, Body: Text("gone in an hour")},
		"text-burn":  {ID: id, SentAt: 1767225600000, Expiry: Expiry{Timer: MaxTimer, BurnOnRead: true}, Body: Text("burn")},
		"file":       {ID: id, SentAt: 1767225600001, Body: sampleFile()},
		"delivered":  {ID: id, SentAt: 2, Body: Receipt(ControlDelivered, ID{1}, ID{2})},
		"read":       {ID: id, SentAt: 3, Body: Receipt(ControlRead, ID{3})},
		"timer":      {ID: id, SentAt: 4, Body: TimerChange(Expiry{Timer: 86400, BurnOnRead: true})},
		"key-change": {ID: id, SentAt: 5, Body: &Control{Type: ControlKeyChange, Data: []byte{}}},
		"control-99": {ID: id, SentAt: 6, Body: &Control{Type: 99, Data: []byte("future")}},
	}
}

func TestRoundTrip(t *testing.T) {
	for name, m := range samples() {
		t.Run(name, func(t *testing.T) {
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("got %+v, want %+v", got, m)
			}
			b2, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Error("re-encoding differs")
			}
		})
	}
}

func TestNew(t *testing.T) {
	now := time.UnixMilli(1767225600123)
	m, err := New(Text("hi"), Expiry{}, now, bytes.NewReader(bytes.Repeat([]byte{7}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != (ID{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}) || !m.Time().Equal(now) {
		t.Errorf("got %+v", m)
	}
	if _, err := New(Text("hi"), Expiry{}, now, bytes.NewReader(nil)); err == nil {
		t.Error("New with empty rand succeeded")
	}
}

func TestHelpers(t *testing.T) {
	ids, err := Receipt(ControlRead, ID{1}, ID{2}).ReceiptIDs()
	if err != nil || !reflect.DeepEqual(ids, []ID{{1}, {2}}) {
		t.Errorf("ReceiptIDs = %v, %v", ids, err)
	}
	e, err := TimerChange(Expiry{Timer: 60, BurnOnRead: true}).Expiry()
	if err != nil || e != (Expiry{Timer: 60, BurnOnRead: true}) {
		t.Errorf("Expiry = %v, %v", e, err)
	}
	if _, err := TimerChange(Expiry{}).ReceiptIDs(); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReceiptIDs of a timer: %v", err)
	}
	if _, err := Receipt(ControlRead).Expiry(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Expiry of a receipt: %v", err)
	}
}

func mustMarshal(t *testing.T, m Message) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMarshalErrors(t *testing.T) {
	bad := map[string]struct {
		m    Message
		want error
	}{
		"no-body":       {Message{}, ErrInvalid},
		"negative-time": {Message{SentAt: -1, Body: Text("x")}, ErrInvalid},
		"timer":         {Message{Expiry: Expiry{Timer: MaxTimer + 1}, Body: Text("x")}, ErrInvalid},
		"text-long":     {Message{Body: Text(strings.Repeat("a", MaxText+1))}, ErrTooLarge},
		"text-utf8":     {Message{Body: Text("\xff")}, ErrInvalid},
		"file-slash":    {Message{Body: &File{Relay: "wss://r", Name: "../x"}}, ErrInvalid},
		"file-dotdot":   {Message{Body: &File{Relay: "wss://r", Name: ".."}}, ErrInvalid},
		"file-nul":      {Message{Body: &File{Relay: "wss://r", Name: "a\x00b"}}, ErrInvalid},
		"file-norelay":  {Message{Body: &File{Name: "a"}}, ErrInvalid},
		"file-size":     {Message{Body: &File{Relay: "wss://r", Size: MaxFileSize + 1}}, ErrInvalid},
		"file-url":      {Message{Body: &File{Relay: strings.Repeat("a", MaxURL+1)}}, ErrTooLarge},
		"receipt-empty": {Message{Body: Receipt(ControlRead)}, ErrInvalid},
		"receipt-odd":   {Message{Body: &Control{Type: ControlRead, Data: make([]byte, 17)}}, ErrInvalid},
		"receipt-many":  {Message{Body: Receipt(ControlRead, make([]ID, 257)...)}, ErrTooLarge},
		"timer-flags":   {Message{Body: &Control{Type: ControlTimer, Data: []byte{0, 0, 0, 1, 2}}}, ErrInvalid},
		"keychange":     {Message{Body: &Control{Type: ControlKeyChange, Data: []byte{1}}}, ErrInvalid},
		"control-long":  {Message{Body: &Control{Type: 9, Data: make([]byte, MaxControlData+1)}}, ErrTooLarge},
	}
	for name, c := range bad {
		if _, err := c.m.Marshal(); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

func TestUnmarshalErrors(t *testing.T) {
	text := mustMarshal(t, samples()["text"])
	file := mustMarshal(t, samples()["file"])
	set := func(b []byte, off int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	withLen := func(b []byte, n uint32) []byte {
		b = bytes.Clone(b)
		binary.BigEndian.PutUint32(b[31:], n)
		return b
	}
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"empty":         {nil, ErrTruncated},
		"version":       {set(text, 0, 2), ErrVersion},
		"short-header":  {text[:headerSize-1], ErrTruncated},
		"too-large":     {make([]byte, MaxSize+1), ErrTooLarge},
		"time-range":    {set(text, 17, 0x80), ErrInvalid},
		"timer-range":   {set(text, 25, 0xff), ErrInvalid},
		"flags":         {set(text, 29, 2), ErrInvalid},
		"kind-zero":     {set(text, 30, 0), ErrUnknownKind},
		"kind-reaction": {set(text, 30, byte(KindReaction)), ErrUnknownKind},
		"body-limit":    {withLen(text, MaxBody+1), ErrTooLarge},
		"body-short":    {withLen(text, uint32(len(text)-headerSize+1)), ErrTruncated},
		"trailing":      {append(bytes.Clone(text), 0), ErrTrailing},
		"text-utf8":     {set(text, headerSize, 0xff), ErrInvalid},
		"file-short":    {withLen(file[:len(file)-1], uint32(len(file)-headerSize-1)), ErrTruncated},
		"file-trailing": {withLen(append(bytes.Clone(file), 0), uint32(len(file)-headerSize+1)), ErrTrailing},
		"file-url-long": {set(file, headerSize+32, 0xff, 0xff), ErrTooLarge},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Unmarshal(c.b); !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
	_, err := Unmarshal(set(text, 30, 9))
	var uk *UnknownKindError
	if !errors.As(err, &uk) || uk.Kind != 9 || uk.ID != samples()["text"].ID || uk.SentAt != samples()["text"].SentAt {
		t.Errorf("unknown kind: got %v (%+v)", err, uk)
	}
	if !strings.Contains(err.Error(), "unknown kind 9") {
		t.Errorf("error %q does not name the kind", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, m := range samples() {
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a decoded message: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, out)
		}
	})
}

func BenchmarkMarshalUnmarshalText1KiB(b *testing.B) {
	m := Message{SentAt: 1, Body: Text(strings.Repeat("a", 1024))}
	b.SetBytes(1024)
	for b.Loop() {
		enc, err := m.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLimits checks every length limit at max and max+1.
func TestLimits(t *testing.T) {
	id := ID{9}
	file := func(mod func(*File)) Message {
		f := sampleFile()
		mod(f)
		return Message{ID: id, Body: f}
	}
	for _, c := range []struct {
		name    string
		atMax   Message
		overMax Message
	}{
		{"text", Message{Body: Text(strings.Repeat("a", MaxText))}, Message{Body: Text(strings.Repeat("a", MaxText+1))}},
		{"relay", file(func(f *File) { f.Relay = strings.Repeat("r", MaxURL) }), file(func(f *File) { f.Relay = strings.Repeat("r", MaxURL+1) })},
		{"media-type", file(func(f *File) { f.MediaType = strings.Repeat("m", MaxMediaType) }), file(func(f *File) { f.MediaType = strings.Repeat("m", MaxMediaType+1) })},
		{"name", file(func(f *File) { f.Name = strings.Repeat("n", MaxFileName) }), file(func(f *File) { f.Name = strings.Repeat("n", MaxFileName+1) })},
		{"size", file(func(f *File) { f.Size = MaxFileSize }), file(func(f *File) { f.Size = MaxFileSize + 1 })},
		{"control", Message{Body: &Control{Type: 77, Data: make([]byte, MaxControlData)}}, Message{Body: &Control{Type: 77, Data: make([]byte, MaxControlData+1)}}},
		{"timer", Message{Expiry: Expiry{Timer: MaxTimer}, Body: Text("")}, Message{Expiry: Expiry{Timer: MaxTimer + 1}, Body: Text("")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.atMax.Marshal()
			if err != nil {
				t.Fatalf("at the limit: %v", err)
			}
			if len(b) > MaxSize {
				t.Errorf("encoding of %d bytes exceeds MaxSize %d", len(b), MaxSize)
			}
			if _, err := Unmarshal(b); err != nil {
				t.Errorf("Unmarshal at the limit: %v", err)
			}
			if _, err := c.overMax.Marshal(); err == nil {
				t.Error("Marshal above the limit succeeded")
			}
		})
	}
}
