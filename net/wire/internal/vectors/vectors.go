// Package vectors defines the relay frame test vectors in testdata/frames
// and their JSON form, shared by the generator (internal/genvectors) and the
// tests of package wire.
//
// Each vector is one JSON file. A valid vector names a frame type, a request
// id and the frame's fields, and gives the exact frame bytes; an invalid
// vector gives bytes that every decoder must refuse, and a reason. Field
// values are written as:
//
//   - fixed-size byte arrays and byte strings: lowercase hex strings
//   - lists of byte strings: arrays of hex strings
//   - u8, u16 and u32 integers: JSON numbers
//   - u64 integers and lists of them: decimal strings, so that readers that
//     parse JSON numbers as doubles keep them exact
//   - booleans: true or false
//   - text (Error.message): a JSON string
//
// Field names are the snake_case names used in docs/PROTOCOL.md, in wire
// order.
package vectors

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/ephemera-im/ephemera/net/wire"
)

// Vector is one test vector file.
type Vector struct {
	Name     string `json:"name"`
	Comment  string `json:"comment,omitempty"`
	Valid    bool   `json:"valid"`
	Type     string `json:"type,omitempty"`      // valid only
	TypeCode *int   `json:"type_code,omitempty"` // valid only
	ID       *int64 `json:"id,omitempty"`        // valid only
	Fields   Fields `json:"fields,omitempty"`    // valid only
	Frame    string `json:"frame"`               // hex
	Reason   string `json:"reason,omitempty"`    // invalid only
	Auth     *Auth  `json:"auth,omitempty"`      // Register and Auth vectors with a real signature
}

// Auth describes how the signature of a Register or Auth vector was made.
type Auth struct {
	Op         int    `json:"op"`
	Seed       string `json:"seed"` // Ed25519 private key seed (RFC 8032 secret key)
	Relay      string `json:"relay"`
	Challenge  string `json:"challenge"`
	Mailbox    string `json:"mailbox"`
	Owner      string `json:"owner"`
	TokenHash  string `json:"token_hash"`
	SendToken  string `json:"send_token,omitempty"` // the token whose SHA-256 is token_hash
	SignedData string `json:"signed_message"`       // AuthMessage bytes
	Signature  string `json:"signature"`
}

// Fields is a frame's field values in wire order.
type Fields []Field

// Field is one named value, already in its JSON form.
type Field struct {
	Name  string
	Value json.RawMessage
}

// MarshalJSON writes the fields as one object, keeping their order.
func (fs Fields) MarshalJSON() ([]byte, error) {
	if fs == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Name)
		b.Write(k)
		b.WriteByte(':')
		b.Write(f.Value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object; order is not checked.
func (fs *Fields) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if m == nil {
		*fs = nil
		return nil
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := Fields{}
	for _, k := range names {
		out = append(out, Field{Name: k, Value: m[k]})
	}
	*fs = out
	return nil
}

// SnakeCase turns a Go field name into its protocol name: DefaultTTL
// becomes default_ttl, SendTokenHash send_token_hash.
func SnakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || (unicode.IsUpper(r[i-1]) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

var (
	byteType       = reflect.TypeFor[byte]()
	bytesType      = reflect.TypeFor[[]byte]()
	bytesListType  = reflect.TypeFor[[][]byte]()
	uint64ListType = reflect.TypeFor[[]uint64]()
)

// FieldsOf returns m's fields in their JSON form.
func FieldsOf(m wire.Message) (Fields, error) {
	v := reflect.ValueOf(m).Elem()
	fs := Fields{}
	for i := 0; i < v.NumField(); i++ {
		sf := v.Type().Field(i)
		fv := v.Field(i)
		var val any
		switch {
		case sf.Type.Kind() == reflect.Array && sf.Type.Elem() == byteType:
			b := make([]byte, fv.Len())
			reflect.Copy(reflect.ValueOf(b), fv)
			val = hex.EncodeToString(b)
		case sf.Type == bytesType:
			val = hex.EncodeToString(fv.Bytes())
		case sf.Type == bytesListType:
			l := []string{}
			for _, p := range fv.Interface().([][]byte) {
				l = append(l, hex.EncodeToString(p))
			}
			val = l
		case sf.Type == uint64ListType:
			l := []string{}
			for _, s := range fv.Interface().([]uint64) {
				l = append(l, strconv.FormatUint(s, 10))
			}
			val = l
		case sf.Type.Kind() == reflect.Uint64:
			val = strconv.FormatUint(fv.Uint(), 10)
		case sf.Type.Kind() == reflect.Uint8, sf.Type.Kind() == reflect.Uint16, sf.Type.Kind() == reflect.Uint32:
			val = fv.Uint()
		case sf.Type.Kind() == reflect.Bool:
			val = fv.Bool()
		case sf.Type.Kind() == reflect.String:
			val = fv.String()
		default:
			return nil, fmt.Errorf("%T.%s: unsupported type %v", m, sf.Name, sf.Type)
		}
		raw, err := json.Marshal(val)
		if err != nil {
			return nil, err
		}
		fs = append(fs, Field{Name: SnakeCase(sf.Name), Value: raw})
	}
	return fs, nil
}

// MessageOf builds the message of type t from fields. Every field of the
// type must be present exactly once, and no other.
func MessageOf(t wire.Type, fs Fields) (wire.Message, error) {
	m := NewMessage(t)
	if m == nil {
		return nil, fmt.Errorf("unknown frame type %v", t)
	}
	byName := map[string]json.RawMessage{}
	for _, f := range fs {
		if _, dup := byName[f.Name]; dup {
			return nil, fmt.Errorf("field %q given twice", f.Name)
		}
		byName[f.Name] = f.Value
	}
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		sf := v.Type().Field(i)
		name := SnakeCase(sf.Name)
		raw, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("%v: field %q missing", t, name)
		}
		delete(byName, name)
		if err := setField(v.Field(i), raw); err != nil {
			return nil, fmt.Errorf("%v.%s: %v", t, name, err)
		}
	}
	for name := range byName {
		return nil, fmt.Errorf("%v: unknown field %q", t, name)
	}
	return m, nil
}

func decodeHex(raw json.RawMessage) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return hex.DecodeString(s)
}

func setField(fv reflect.Value, raw json.RawMessage) error {
	t := fv.Type()
	switch {
	case t.Kind() == reflect.Array && t.Elem() == byteType:
		b, err := decodeHex(raw)
		if err != nil {
			return err
		}
		if len(b) != fv.Len() {
			return fmt.Errorf("%d bytes, want %d", len(b), fv.Len())
		}
		reflect.Copy(fv, reflect.ValueOf(b))
	case t == bytesType:
		b, err := decodeHex(raw)
		if err != nil {
			return err
		}
		fv.SetBytes(b)
	case t == bytesListType:
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		out := make([][]byte, len(l))
		for i, s := range l {
			b, err := hex.DecodeString(s)
			if err != nil {
				return err
			}
			out[i] = b
		}
		fv.Set(reflect.ValueOf(out))
	case t == uint64ListType:
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		out := make([]uint64, len(l))
		for i, s := range l {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return err
			}
			out[i] = n
		}
		fv.Set(reflect.ValueOf(out))
	case t.Kind() == reflect.Uint64:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("u64 must be a decimal string: %v", err)
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return err
		}
		fv.SetUint(n)
	case t.Kind() == reflect.Uint8, t.Kind() == reflect.Uint16, t.Kind() == reflect.Uint32:
		var n uint64
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
		if fv.OverflowUint(n) {
			return fmt.Errorf("%d overflows %v", n, t)
		}
		fv.SetUint(n)
	case t.Kind() == reflect.Bool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return err
		}
		fv.SetBool(b)
	case t.Kind() == reflect.String:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		fv.SetString(s)
	default:
		return fmt.Errorf("unsupported type %v", t)
	}
	return nil
}

// NewMessage returns a new zero message of type t, or nil.
func NewMessage(t wire.Type) wire.Message {
	for _, m := range AllTypes() {
		if m.Type() == t {
			return reflect.New(reflect.TypeOf(m).Elem()).Interface().(wire.Message)
		}
	}
	return nil
}

// AllTypes returns one zero message of every frame type, in type order.
func AllTypes() []wire.Message {
	return []wire.Message{
		&wire.ServerHello{}, &wire.Ping{}, &wire.Pong{},
		&wire.Register{}, &wire.Auth{}, &wire.Send{}, &wire.Ack{},
		&wire.PutPrekeys{}, &wire.ClaimPrekey{},
		&wire.BlobCreate{}, &wire.BlobPut{}, &wire.BlobStat{}, &wire.BlobGet{},
		&wire.OK{}, &wire.Error{}, &wire.Sent{}, &wire.PrekeysStored{}, &wire.Prekey{},
		&wire.BlobCreated{}, &wire.BlobStatus{}, &wire.BlobData{}, &wire.Deliver{},
	}
}

// Message returns a valid vector's message, built from its fields, and
// checks that its type name and code agree.
func (v *Vector) Message() (uint32, wire.Message, error) {
	if !v.Valid {
		return 0, nil, fmt.Errorf("vector %s is invalid", v.Name)
	}
	if v.TypeCode == nil || v.ID == nil {
		return 0, nil, fmt.Errorf("vector %s: type_code or id missing", v.Name)
	}
	if *v.TypeCode < 0 || *v.TypeCode > 255 || *v.ID < 0 || *v.ID > 0xffffffff {
		return 0, nil, fmt.Errorf("vector %s: type_code or id out of range", v.Name)
	}
	t := wire.Type(*v.TypeCode)
	if t.String() != v.Type {
		return 0, nil, fmt.Errorf("vector %s: type %q but type_code 0x%02x is %v", v.Name, v.Type, *v.TypeCode, t)
	}
	m, err := MessageOf(t, v.Fields)
	if err != nil {
		return 0, nil, fmt.Errorf("vector %s: %v", v.Name, err)
	}
	return uint32(*v.ID), m, nil
}

// FrameBytes returns the decoded frame hex.
func (v *Vector) FrameBytes() ([]byte, error) { return hex.DecodeString(v.Frame) }

// Marshal returns the file contents for v.
func (v *Vector) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Load reads every *.json vector in dir, sorted by file name.
func Load(dir string) ([]*Vector, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []*Vector
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		v := new(Vector)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		if want := v.Name + ".json"; filepath.Base(p) != want {
			return nil, fmt.Errorf("%s: name %q, want file %s", p, v.Name, want)
		}
		out = append(out, v)
	}
	return out, nil
}
