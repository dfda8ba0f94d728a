package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"
)

// goldenRequests were produced by term_to_binary/1,2 of OTP 25, the last
// release to write atoms as ATOM_EXT; the "utf8 atoms" entries use
// minor_version 2, the default from OTP 26 on. term is the Erlang term in ~w
// form, shortened where long.
var goldenRequests = []struct {
	name    string
	term    string
	body    string
	want    Request
	wantErr error
}{
	{
		name: "resolve binary inet",
		term: `{7,{resolve,<<97,98,99>>,inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x03\x61\x62\x63\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7, Cmd: Resolve, Host: "abc", Family: Inet}, wantErr: nil,
	},
	{
		name: "resolve binary inet, utf8 atoms",
		term: `{7,{resolve,<<97,98,99>>,inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x77\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x03\x61\x62\x63\x77\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7, Cmd: Resolve, Host: "abc", Family: Inet}, wantErr: nil,
	},
	{
		name: "resolve inet6",
		term: `{4000,{resolve,<<119,101,98,45,49,46,101,120,97,109,112,...}`,
		body: "\x83\x68\x02\x62\x00\x00\x0f\xa0\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x11\x77\x65\x62\x2d\x31\x2e\x65\x78\x61\x6d\x70\x6c\x65\x5f\x6e\x65\x74\x64\x00\x05\x69\x6e\x65\x74\x36",
		want: Request{Tag: 4000, Cmd: Resolve, Host: "web-1.example_net", Family: Inet6}, wantErr: nil,
	},
	{
		name: "resolve charlist",
		term: `{7,{resolve,[97,98,99],inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6b\x00\x03\x61\x62\x63\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7, Cmd: Resolve, Host: "abc", Family: Inet}, wantErr: nil,
	},
	{
		name: "ping tag 0",
		term: `{0,ping}`,
		body: "\x83\x68\x02\x61\x00\x64\x00\x04\x70\x69\x6e\x67",
		want: Request{Tag: 0, Cmd: Ping}, wantErr: nil,
	},
	{
		name: "ping tag 0, utf8 atoms",
		term: `{0,ping}`,
		body: "\x83\x68\x02\x61\x00\x77\x04\x70\x69\x6e\x67",
		want: Request{Tag: 0, Cmd: Ping}, wantErr: nil,
	},
	{
		name: "ping tag 255",
		term: `{255,ping}`,
		body: "\x83\x68\x02\x61\xff\x64\x00\x04\x70\x69\x6e\x67",
		want: Request{Tag: 255, Cmd: Ping}, wantErr: nil,
	},
	{
		name: "ping tag 256",
		term: `{256,ping}`,
		body: "\x83\x68\x02\x62\x00\x00\x01\x00\x64\x00\x04\x70\x69\x6e\x67",
		want: Request{Tag: 256, Cmd: Ping}, wantErr: nil,
	},
	{
		name: "list tag 2^31-1",
		term: `{2147483647,list}`,
		body: "\x83\x68\x02\x62\x7f\xff\xff\xff\x64\x00\x04\x6c\x69\x73\x74",
		want: Request{Tag: 1<<31 - 1, Cmd: List}, wantErr: nil,
	},
	{
		name: "list tag 2^31",
		term: `{2147483648,list}`,
		body: "\x83\x68\x02\x6e\x04\x00\x00\x00\x00\x80\x64\x00\x04\x6c\x69\x73\x74",
		want: Request{Tag: 1 << 31, Cmd: List}, wantErr: nil,
	},
	{
		name: "ping tag 2^32-1",
		term: `{4294967295,ping}`,
		body: "\x83\x68\x02\x6e\x04\x00\xff\xff\xff\xff\x64\x00\x04\x70\x69\x6e\x67",
		want: Request{Tag: 1<<32 - 1, Cmd: Ping}, wantErr: nil,
	},
	{
		name: "ping tag 2^32",
		term: `{4294967296,ping}`,
		body: "\x83\x68\x02\x6e\x05\x00\x00\x00\x00\x00\x01\x64\x00\x04\x70\x69\x6e\x67",
		want: Request{}, wantErr: ErrUnreadableTag,
	},
	{
		name: "ping tag -1",
		term: `{-1,ping}`,
		body: "\x83\x68\x02\x62\xff\xff\xff\xff\x64\x00\x04\x70\x69\x6e\x67",
		want: Request{}, wantErr: ErrUnreadableTag,
	},
	{
		name: "ping tag 2^64",
		term: `{18446744073709551616,ping}`,
		body: "\x83\x68\x02\x6e\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x64\x00\x04\x70\x69\x6e\x67",
		want: Request{}, wantErr: ErrUnreadableTag,
	},
	{
		name: "atom tag",
		term: `{a,ping}`,
		body: "\x83\x68\x02\x64\x00\x01\x61\x64\x00\x04\x70\x69\x6e\x67",
		want: Request{}, wantErr: ErrUnreadableTag,
	},
	{
		name: "bare ping",
		term: `ping`,
		body: "\x83\x64\x00\x04\x70\x69\x6e\x67",
		want: Request{}, wantErr: ErrUnreadableTag,
	},
	{
		name: "1-tuple",
		term: `{7}`,
		body: "\x83\x68\x01\x61\x07",
		want: Request{}, wantErr: ErrUnreadableTag,
	},
	{
		name: "3-tuple",
		term: `{7,ping,x}`,
		body: "\x83\x68\x03\x61\x07\x64\x00\x04\x70\x69\x6e\x67\x64\x00\x01\x78",
		want: Request{}, wantErr: ErrUnreadableTag,
	},
	{
		name: "empty list",
		term: `[]`,
		body: "\x83\x6a",
		want: Request{}, wantErr: ErrUnreadableTag,
	},
	{
		name: "compressed",
		term: `{7,{resolve,<<97,97,97,97,97,97,97,97,97,97,97,97,97,97,...}`,
		body: "\x83\x50\x00\x00\x00\x80\x78\x9c\xcb\x60\x4a\x64\xcf\x60\x4e\x61\x60\x2f\x4a\x2d\xce\xcf\x29\x4b\xcd\x65\x60\x60\x48\x49\xa4\x03\x48\x61\x60\xc9\xcc\x4b\x2d\x01\x00\x0f\xab\x2d\x76",
		want: Request{}, wantErr: ErrUnreadableTag,
	},
	{
		name: "unknown command",
		term: `{7,foo}`,
		body: "\x83\x68\x02\x61\x07\x64\x00\x03\x66\x6f\x6f",
		want: Request{Tag: 7}, wantErr: ErrBadRequest,
	},
	{
		name: "ping as string",
		term: `{7,[112,105,110,103]}`,
		body: "\x83\x68\x02\x61\x07\x6b\x00\x04\x70\x69\x6e\x67",
		want: Request{Tag: 7}, wantErr: ErrBadRequest,
	},
	{
		name: "float command",
		term: `{7,1.5}`,
		body: "\x83\x68\x02\x61\x07\x46\x3f\xf8\x00\x00\x00\x00\x00\x00",
		want: Request{Tag: 7}, wantErr: ErrBadRequest,
	},
	{
		name: "map command",
		term: `{7,#{}}`,
		body: "\x83\x68\x02\x61\x07\x74\x00\x00\x00\x00",
		want: Request{Tag: 7}, wantErr: ErrBadRequest,
	},
	{
		name: "pid command",
		term: `{7,<0.1.0>}`,
		body: "\x83\x68\x02\x61\x07\x58\x64\x00\x0d\x6e\x6f\x6e\x6f\x64\x65\x40\x6e\x6f\x68\x6f\x73\x74\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00",
		want: Request{Tag: 7}, wantErr: ErrBadRequest,
	},
	{
		name: "resolve 2-tuple",
		term: `{7,{resolve,<<97,98,99>>}}`,
		body: "\x83\x68\x02\x61\x07\x68\x02\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x03\x61\x62\x63",
		want: Request{Tag: 7}, wantErr: ErrBadRequest,
	},
	{
		name: "resolve 4-tuple",
		term: `{7,{resolve,<<97,98,99>>,inet,x}}`,
		body: "\x83\x68\x02\x61\x07\x68\x04\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x03\x61\x62\x63\x64\x00\x04\x69\x6e\x65\x74\x64\x00\x01\x78",
		want: Request{Tag: 7}, wantErr: ErrBadRequest,
	},
	{
		name: "unknown family",
		term: `{7,{resolve,<<97,98,99>>,inet4}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x03\x61\x62\x63\x64\x00\x05\x69\x6e\x65\x74\x34",
		want: Request{Tag: 7}, wantErr: ErrBadRequest,
	},
	{
		name: "integer host",
		term: `{7,{resolve,42,inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x61\x2a\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadRequest,
	},
	{
		name: "empty host",
		term: `{7,{resolve,<<>>,inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x00\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadHost,
	},
	{
		name: "empty charlist host",
		term: `{7,{resolve,[],inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6a\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadHost,
	},
	{
		name: "unicode charlist host",
		term: `{7,{resolve,[1072,1073],inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6c\x00\x00\x00\x02\x62\x00\x00\x04\x30\x62\x00\x00\x04\x31\x6a\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadHost,
	},
	{
		name: "host with NUL",
		term: `{7,{resolve,<<97,98,0,99>>,inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x04\x61\x62\x00\x63\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadHost,
	},
	{
		name: "host invalid utf-8",
		term: `{7,{resolve,<<97,98,255,254>>,inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x04\x61\x62\xff\xfe\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadHost,
	},
	{
		name: "host with shell metacharacters",
		term: `{7,{resolve,<<36,40,114,109,32,45,114,102,32,47,41,59>>,...}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x0c\x24\x28\x72\x6d\x20\x2d\x72\x66\x20\x2f\x29\x3b\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadHost,
	},
	{
		name: "host with space",
		term: `{7,{resolve,<<97,32,98>>,inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x03\x61\x20\x62\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadHost,
	},
	{
		name: "host with slash",
		term: `{7,{resolve,<<47,119,101,98>>,inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x04\x2f\x77\x65\x62\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadHost,
	},
	{
		name: "host leading dash",
		term: `{7,{resolve,<<45,119,101,98>>,inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x04\x2d\x77\x65\x62\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadHost,
	},
	{
		name: "host utf-8 letters",
		term: `{7,{resolve,<<99,97,102,195,169>>,inet}}`,
		body: "\x83\x68\x02\x61\x07\x68\x03\x64\x00\x07\x72\x65\x73\x6f\x6c\x76\x65\x6d\x00\x00\x00\x05\x63\x61\x66\xc3\xa9\x64\x00\x04\x69\x6e\x65\x74",
		want: Request{Tag: 7}, wantErr: ErrBadHost,
	},
}

func TestDecodeRequestGolden(t *testing.T) {
	for _, tc := range goldenRequests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.body))
			checkDecoded(t, tc.term, got, err, tc.want, tc.wantErr)
		})
	}
}

// checkDecoded compares DecodeRequest's answer with the expected one. Only
// the Tag is compared on error, as the rest is then unspecified.
func checkDecoded(t *testing.T, term string, got Request, err error, want Request, wantErr error) {
	t.Helper()
	if wantErr == nil {
		if err != nil {
			t.Fatalf("DecodeRequest(%s): got error %v, want %+v", term, err, want)
		}
		if got != want {
			t.Fatalf("DecodeRequest(%s): got %+v, want %+v", term, got, want)
		}
		return
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("DecodeRequest(%s): got %+v, %v; want error %v", term, got, err, wantErr)
	}
	if wantErr != ErrUnreadableTag && got.Tag != want.Tag {
		t.Fatalf("DecodeRequest(%s): got tag %d, want %d (error %v)", term, got.Tag, want.Tag, err)
	}
	for _, other := range []error{ErrUnreadableTag, ErrBadRequest, ErrBadHost} {
		if other != wantErr && errors.Is(err, other) {
			t.Fatalf("DecodeRequest(%s): error %v also matches %v", term, err, other)
		}
	}
}

// hostile are bodies no Erlang would send. Several once crashed or could
// crash ergo's decoder, which trusts declared sizes.
var hostile = []struct {
	name    string
	body    string
	want    Request
	wantErr error
}{
	// LARGE_TUPLE_EXT of arity 0x69696969: ergo allocates ~28 GiB for it
	// and the process dies of an uncatchable out-of-memory error.
	{"iiiii0", "iiiii0", Request{}, ErrUnreadableTag},
	{"iiiii0 with version", "\x83iiiii0", Request{}, ErrUnreadableTag},
	{"iiiii0 as command", "\x83h\x02a\x07iiiii0", Request{Tag: 7}, ErrBadRequest},
	// BINARY_EXT of 0xFFFFFFFC bytes: ergo's n+4 wraps to 0, passes its
	// length check, and it allocates 4 GiB.
	{"binary length wraps", "\x83h\x02a\x07m\xff\xff\xff\xfc", Request{Tag: 7}, ErrBadRequest},
	{"list length huge", "\x83h\x02a\x07l\xff\xff\xff\xffj", Request{Tag: 7}, ErrBadRequest},
	{"list length 0", "\x83h\x02a\x07l\x00\x00\x00\x00j", Request{Tag: 7}, ErrBadRequest},
	{"small tuple arity beyond end", "\x83h\x02a\x07h\xff", Request{Tag: 7}, ErrBadRequest},
	{"map arity huge", "\x83h\x02a\x07t\x7f\xff\xff\xff", Request{Tag: 7}, ErrBadRequest},
	// STRING_EXT of 0xFFFF bytes: ergo's uint16 n+2 wraps to 1.
	{"string length wraps", "\x83h\x02a\x07k\xff\xff", Request{Tag: 7}, ErrBadRequest},
	{"atom length wraps", "\x83h\x02a\x07d\xff\xff", Request{Tag: 7}, ErrBadRequest},
	// SMALL_BIG_EXT with no sign byte: ergo reads it anyway.
	{"small big without sign", "\x83h\x02n\x01", Request{}, ErrUnreadableTag},
	{"small big digits missing", "\x83h\x02n\x08\x00\x01", Request{}, ErrUnreadableTag},
	{"small big tag of 0 digits", "\x83h\x02n\x00\x00d\x00\x04ping", Request{Tag: 0, Cmd: Ping}, nil},
	{"small big tag, sign byte 7", "\x83h\x02n\x01\x07\x05d\x00\x04ping", Request{Tag: 5, Cmd: Ping}, nil},
	{"negative small big tag", "\x83h\x02n\x01\x01\x05d\x00\x04ping", Request{}, ErrUnreadableTag},
	{"8-byte small big tag", "\x83h\x02n\x08\x00\x01\x00\x00\x00\x00\x00\x00\x00d\x00\x04ping", Request{Tag: 1, Cmd: Ping}, nil},
	{"uint64 small big tag", "\x83h\x02n\x08\x00\xff\xff\xff\xff\xff\xff\xff\xffd\x00\x04ping", Request{}, ErrUnreadableTag},
	{"large tuple envelope", "\x83i\x00\x00\x00\x02a\x07d\x00\x04ping", Request{}, ErrUnreadableTag},
	{"empty", "", Request{}, ErrUnreadableTag},
	{"version only", "\x83", Request{}, ErrUnreadableTag},
	{"not ETF", "GET / HTTP/1.1\r\n\r\n", Request{}, ErrUnreadableTag},
	{"trailing byte", "\x83h\x02a\x07d\x00\x04ping\x00", Request{Tag: 7}, ErrBadRequest},
	{"top-level nil command", "\x83h\x02a\x07j", Request{Tag: 7}, ErrBadRequest},
	{"float tag", "\x83h\x02F\x3f\xf8\x00\x00\x00\x00\x00\x00d\x00\x04ping", Request{}, ErrUnreadableTag},
	{"deep nesting", "\x83h\x02a\x07" + strings.Repeat("h\x01", 100) + "j", Request{Tag: 7}, ErrBadRequest},
	{"bit binary", "\x83h\x02a\x07M\x00\x00\x00\x00\x08", Request{Tag: 7}, ErrBadRequest},
	{"atom cache ref", "\x83h\x02a\x07R\x00", Request{Tag: 7}, ErrBadRequest},
	{"4 KB host", string(requestBody(7, etf.Tuple{etf.Atom("resolve"), bytes.Repeat([]byte("a"), 4096), etf.Atom("inet")})), Request{Tag: 7}, ErrBadHost},
	{"255-byte host", string(requestBody(7, etf.Tuple{etf.Atom("resolve"), bytes.Repeat([]byte("a"), 255), etf.Atom("inet")})), Request{Tag: 7, Cmd: Resolve, Host: strings.Repeat("a", 255), Family: Inet}, nil},
	{"256-byte host", string(requestBody(7, etf.Tuple{etf.Atom("resolve"), bytes.Repeat([]byte("a"), 256), etf.Atom("inet")})), Request{Tag: 7}, ErrBadHost},
	{"body over MaxFrame", "\x83h\x02a\x07d\x00\x04ping" + strings.Repeat("\x00", MaxFrame), Request{}, ErrUnreadableTag},
}

func TestDecodeRequestHostile(t *testing.T) {
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRequest([]byte(tc.body))
			checkDecoded(t, fmt.Sprintf("%q", trim(tc.body)), got, err, tc.want, tc.wantErr)
			if errors.Is(err, errDecoder) {
				t.Errorf("checkTerm let through what ergo refused: %v", err)
			}
		})
	}
}

// TestCheckTermIiiii0 keeps the input that first killed the helper away from
// ergo's decoder, alone and inside a request tuple.
func TestCheckTermIiiii0(t *testing.T) {
	for _, b := range []string{"iiiii0", "h\x02a\x07iiiii0"} {
		if _, err := checkTerm([]byte(b), 0); err == nil {
			t.Errorf("checkTerm(%q): got nil error, want one", b)
		}
		if _, err := decodeTerm([]byte(b)); err == nil || errors.Is(err, errDecoder) {
			t.Errorf("decodeTerm(%q): got %v, want a checkTerm error", b, err)
		}
	}
}

// TestErgoIntegerTypes pins what ergo's decoder makes of each integer
// encoding, which peekTag depends on.
func TestErgoIntegerTypes(t *testing.T) {
	tests := []struct {
		body string
		want any
	}{
		{"a\x07", int(7)},
		{"b\x00\x00\x01\x00", int64(256)},
		{"b\xff\xff\xff\xff", int64(-1)},
		{"n\x04\x00\x00\x00\x00\x80", int64(1 << 31)},
		{"n\x08\x00\xff\xff\xff\xff\xff\xff\xff\xff", uint64(math.MaxUint64)},
		{"n\x01\x01\x05", int64(-5)},
	}
	for _, tc := range tests {
		got, err := decodeTerm([]byte(tc.body))
		if err != nil || got != tc.want {
			t.Errorf("decodeTerm(%q): got %T %v, %v; want %T %v", tc.body, got, got, err, tc.want, tc.want)
		}
	}
}

func TestDecodeRequestDoesNotAliasBody(t *testing.T) {
	body := []byte(goldenRequests[0].body)
	req, err := DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if req.Host != "abc" {
		t.Errorf("got host %q after overwriting the body, want %q", req.Host, "abc")
	}
}

func TestCheckHost(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"3f2a9c1b0d4e", true},
		{"web", true},
		{"web.example.com", true},
		{"proj_web_1", true},
		{"proj-web-1", true},
		{"WEB", true},
		{"web.", true},
		{strings.Repeat("a", 255), true},
		{"", false},
		{strings.Repeat("a", 256), false},
		{"_web", false},
		{".web", false},
		{"-web", false},
		{"/web", false},
		{"a b", false},
		{"a\x00b", false},
		{"a\nb", false},
		{"ab\xff", false},
		{"café", false},
		{"$(rm -rf /);", false},
		{"a;b", false},
		{"a`b`", false},
		{"web:4369", false},
		{"node@web", false},
	}
	for _, tc := range tests {
		err := CheckHost(tc.host)
		if tc.ok && err != nil {
			t.Errorf("CheckHost(%q): got %v, want nil", trim(tc.host), err)
		}
		if !tc.ok && !errors.Is(err, ErrBadHost) {
			t.Errorf("CheckHost(%q): got %v, want ErrBadHost", trim(tc.host), err)
		}
	}
}

// TestDecodeRequestFromErl decodes what the installed Erlang writes, in its
// default encoding and in the UTF-8 atom one.
func TestDecodeRequestFromErl(t *testing.T) {
	tests := []struct {
		src     string // Erlang source
		want    Request
		wantErr error
	}{
		{`{7,{resolve,<<"abc">>,inet}}`, Request{Tag: 7, Cmd: Resolve, Host: "abc", Family: Inet}, nil},
		{`{70000,{resolve,<<"web.example_net">>,inet6}}`, Request{Tag: 70000, Cmd: Resolve, Host: "web.example_net", Family: Inet6}, nil},
		{`{1,{resolve,"abc",inet}}`, Request{Tag: 1, Cmd: Resolve, Host: "abc", Family: Inet}, nil},
		{`{4294967295,ping}`, Request{Tag: math.MaxUint32, Cmd: Ping}, nil},
		{`{2147483648,list}`, Request{Tag: 1 << 31, Cmd: List}, nil},
		{`{4294967296,ping}`, Request{}, ErrUnreadableTag},
		{`{-1,ping}`, Request{}, ErrUnreadableTag},
		{`{7,foo}`, Request{Tag: 7}, ErrBadRequest},
		{`{7,self()}`, Request{Tag: 7}, ErrBadRequest},
		{`{7,make_ref()}`, Request{Tag: 7}, ErrBadRequest},
		{`{7,fun() -> ok end}`, Request{Tag: 7}, ErrBadRequest},
		{`{7,#{a => b}}`, Request{Tag: 7}, ErrBadRequest},
		{`{7,{resolve,binary:copy(<<"a">>,4096),inet}}`, Request{Tag: 7}, ErrBadHost},
		{`{7,{resolve,<<"$(rm -rf /);">>,inet}}`, Request{Tag: 7}, ErrBadHost},
		{`{7,{resolve,<<"a",0,"b">>,inet}}`, Request{Tag: 7}, ErrBadHost},
		{`{7,{resolve,<<"a",255>>,inet}}`, Request{Tag: 7}, ErrBadHost},
		{`{7,{resolve,<<"é"/utf8>>,inet}}`, Request{Tag: 7}, ErrBadHost},
	}
	var src []string
	for _, tc := range tests {
		src = append(src, tc.src)
	}
	// One line per term and option set: hex of term_to_binary.
	out := runErl(t, `
		Terms = [`+strings.Join(src, ",\n")+`],
		[io:format("~s~n", [binary:encode_hex(term_to_binary(T, O))])
		 || T <- Terms, O <- [[], [{minor_version, 2}]]].`)
	lines := strings.Fields(out)
	if len(lines) != 2*len(tests) {
		t.Fatalf("erl printed %d lines, want %d:\n%s", len(lines), 2*len(tests), out)
	}
	for i, line := range lines {
		tc := tests[i/2]
		body, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("erl printed %q: %v", line, err)
		}
		got, err := DecodeRequest(body)
		checkDecoded(t, tc.src, got, err, tc.want, tc.wantErr)
	}
}

// runErl evaluates Erlang expressions (ending in a full stop) in a fresh node
// and returns what they print. It skips the test when erl is not installed.
func runErl(t *testing.T, exprs string) string {
	t.Helper()
	erl, err := exec.LookPath("erl")
	if err != nil {
		t.Skip("erl not on PATH")
	}
	exprs = strings.TrimSpace(exprs)
	exprs = strings.TrimSuffix(exprs, ".") + ", halt()."
	cmd := exec.Command(erl, "-noshell", "-boot", "start_clean", "-eval", exprs)
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("erl: %v\n%s%s", err, out, stderr.Bytes())
	}
	return string(out)
}

// requestBody encodes {Tag, Command} as the Erlang side does.
func requestBody(tag uint32, cmd etf.Term) []byte {
	b, err := encodeTerm(etf.Tuple{tag, cmd})
	if err != nil {
		panic(err)
	}
	return b
}

// trim shortens s for a test message.
func trim(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}
