package wire

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// replyCases pair a reply built here with the term Erlang must decode it to.
var replyCases = []struct {
	name  string
	build func() ([]byte, error)
	want  string // Erlang source
}{
	{"pong", func() ([]byte, error) { return PongReply(0, "0.1.0") }, `{0,{pong,<<"0.1.0">>,2}}`},
	{"pong empty version", func() ([]byte, error) { return PongReply(1, "") }, `{1,{pong,<<>>,2}}`},
	{"dial ipv4", func() ([]byte, error) { return EndpointReply(8, ep("127.0.0.1", 32768)) }, `{8,{ok,{127,0,0,1},32768}}`},
	{"dial ipv6", func() ([]byte, error) { return EndpointReply(9, ep("::1", 9100)) }, `{9,{ok,{0,0,0,0,0,0,0,1},9100}}`},
	{"not published", func() ([]byte, error) { return ErrorReply(5, ErrNotPublished) }, `{5,{error,not_published}}`},
	{"push stream up", func() ([]byte, error) { return StreamUp().Encode() }, `{push,{stream,up}}`},
	{"push stream down", func() ([]byte, error) { return StreamDown().Encode() }, `{push,{stream,down}}`},
	{"push invalidate all", func() ([]byte, error) { return InvalidateAll().Encode() }, `{push,{invalidate,all}}`},
	{"push invalidate hosts", func() ([]byte, error) { return Invalidate([]string{"web", "3f2a9c1b0d4e"}).Encode() },
		`{push,{invalidate,[<<"web">>,<<"3f2a9c1b0d4e">>]}}`},
	{"push invalidate none", func() ([]byte, error) { return Invalidate(nil).Encode() }, `{push,{invalidate,[]}}`},
	{"push fatal", func() ([]byte, error) { return Fatal("EPMD_DOCKER_TTL=\"bogus\": not a duration").Encode() },
		`{push,{fatal,<<"EPMD_DOCKER_TTL=\"bogus\": not a duration">>}}`},
	{"ipv4", func() ([]byte, error) { return EndpointReply(7, ep("172.17.0.2", 0)) }, `{7,{ok,{172,17,0,2}}}`},
	{"ipv4 tag 256", func() ([]byte, error) { return EndpointReply(256, ep("255.0.0.1", 0)) }, `{256,{ok,{255,0,0,1}}}`},
	{"ipv6", func() ([]byte, error) { return EndpointReply(1<<31, ep("fd00:dead:beef::1", 0)) },
		`{2147483648,{ok,{16#fd00,16#dead,16#beef,0,0,0,0,1}}}`},
	{"ipv6 with zone", func() ([]byte, error) { return EndpointReply(1<<32-1, ep("fe80::ffff%eth0", 0)) },
		`{4294967295,{ok,{16#fe80,0,0,0,0,0,0,16#ffff}}}`},
	{"ipv4-mapped ipv6", func() ([]byte, error) { return EndpointReply(2, ep("::ffff:10.0.0.1", 0)) },
		`{2,{ok,{0,0,0,0,0,16#ffff,16#0a00,1}}}`},
	{"empty list", func() ([]byte, error) { return ListReply(3, nil) }, `{3,{ok,[]}}`},
	{"list", func() ([]byte, error) {
		return ListReply(4, []Container{
			{ID: "3f2a9c1b0d4e" + strings.Repeat("0", 52), Name: "web", Hostname: "3f2a9c1b0d4e", Addr: netip.MustParseAddr("172.17.0.2")},
			{ID: "abc", Name: "db", Hostname: "db.local", Addr: netip.MustParseAddr("fd00::2")},
			{ID: "def", Name: "off", Hostname: "off"},
		})
	}, `{4,{ok,[{<<"3f2a9c1b0d4e` + strings.Repeat("0", 52) + `">>,<<"web">>,<<"3f2a9c1b0d4e">>,{172,17,0,2}},
		{<<"abc">>,<<"db">>,<<"db.local">>,{16#fd00,0,0,0,0,0,0,2}},
		{<<"def">>,<<"off">>,<<"off">>,none}]}}`},
	{"not found", func() ([]byte, error) { return ErrorReply(5, fmt.Errorf("resolve web: %w", ErrNotFound)) }, `{5,{error,not_found}}`},
	{"no address", func() ([]byte, error) { return ErrorReply(5, ErrNoAddress) }, `{5,{error,no_address}}`},
	{"unavailable", func() ([]byte, error) { return ErrorReply(5, ErrUnavailable) }, `{5,{error,docker_unavailable}}`},
	{"timeout", func() ([]byte, error) { return ErrorReply(5, context.DeadlineExceeded) }, `{5,{error,timeout}}`},
	{"bad host", func() ([]byte, error) { return ErrorReply(5, ErrBadHost) }, `{5,{error,bad_host}}`},
	{"bad request", func() ([]byte, error) { return ErrorReply(5, ErrBadRequest) }, `{5,{error,bad_request}}`},
	{"unknown error", func() ([]byte, error) { return ErrorReply(5, errors.New("boom")) }, `{5,{error,docker_unavailable}}`},
	{"ambiguous", func() ([]byte, error) {
		return ErrorReply(6, fmt.Errorf("resolve: %w", &AmbiguousError{Host: "web", Candidates: []string{"web (3f2a9c1b0d4e)", "web-2 (0123456789ab)"}}))
	}, `{6,{error,{ambiguous,[<<"web (3f2a9c1b0d4e)">>,<<"web-2 (0123456789ab)">>]}}}`},
}

// TestRepliesDecodeInErl has the installed Erlang decode every reply with
// binary_to_term(B, [safe]), as the port owner does, and match it against
// the term it should be.
func TestRepliesDecodeInErl(t *testing.T) {
	var cases []string
	for _, tc := range replyCases {
		b, err := tc.build()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if b[0] != versionByte {
			t.Fatalf("%s: body starts with %d, want version byte %d", tc.name, b[0], versionByte)
		}
		cases = append(cases, fmt.Sprintf("{%s, %s}", erlBinary(b), tc.want))
	}
	out := runErl(t, `
		Cases = [`+strings.Join(cases, ",\n")+`],
		[io:format("~s~n", [case catch binary_to_term(B, [safe]) of
		                        Want -> "ok";
		                        Got -> io_lib:format("~w", [Got])
		                    end])
		 || {B, Want} <- Cases].`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(replyCases) {
		t.Fatalf("erl printed %d lines, want %d:\n%s", len(lines), len(replyCases), out)
	}
	for i, line := range lines {
		if line != "ok" {
			t.Errorf("%s: erl decoded %s, want %s", replyCases[i].name, line, replyCases[i].want)
		}
	}
}

// erlBinary writes b as an Erlang binary literal.
func erlBinary(b []byte) string {
	var s strings.Builder
	s.WriteString("<<")
	for i, c := range b {
		if i > 0 {
			s.WriteByte(',')
		}
		fmt.Fprint(&s, c)
	}
	s.WriteString(">>")
	return s.String()
}

// TestReplyGolden pins a few replies byte for byte against term_to_binary/1.
func TestReplyGolden(t *testing.T) {
	tests := []struct {
		name  string
		build func() ([]byte, error)
		want  string // term_to_binary/1 of the term in the comment, OTP 26+
	}{
		// {7,{ok,{172,17,0,2}}}
		{"ipv4", func() ([]byte, error) { return EndpointReply(7, ep("172.17.0.2", 0)) },
			"\x83h\x02a\x07h\x02w\x02okh\x04a\xaca\x11a\x00a\x02"},
		// {256,{error,not_found}}
		{"error", func() ([]byte, error) { return ErrorReply(256, ErrNotFound) },
			"\x83h\x02b\x00\x00\x01\x00h\x02w\x05errorw\x09not_found"},
	}
	for _, tc := range tests {
		got, err := tc.build()
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// ep is an Endpoint for tests.
func ep(addr string, port uint16) Endpoint {
	return Endpoint{Addr: netip.MustParseAddr(addr), Port: port}
}

func TestEndpointReplyInvalid(t *testing.T) {
	if b, err := EndpointReply(1, Endpoint{}); err == nil {
		t.Errorf("got %q, nil; want an error", b)
	}
}

func TestReasonOf(t *testing.T) {
	amb := &AmbiguousError{Host: "web", Candidates: []string{"a", "b"}}
	tests := []struct {
		err  error
		want Reason
	}{
		{ErrNotFound, ReasonNotFound},
		{fmt.Errorf("x: %w", ErrNoAddress), ReasonNoAddress},
		{ErrUnavailable, ReasonDockerUnavailable},
		{amb, ReasonAmbiguous},
		{fmt.Errorf("x: %w", amb), ReasonAmbiguous},
		{context.DeadlineExceeded, ReasonTimeout},
		{os.ErrDeadlineExceeded, ReasonTimeout},
		{fmt.Errorf("%w: %w", ErrUnavailable, context.DeadlineExceeded), ReasonTimeout},
		{fmt.Errorf("x: %w", ErrNotPublished), ReasonNotPublished},
		{ErrBadHost, ReasonBadHost},
		{ErrBadRequest, ReasonBadRequest},
		{context.Canceled, ReasonDockerUnavailable},
		{errors.New("boom"), ReasonDockerUnavailable},
	}
	for _, tc := range tests {
		if got := ReasonOf(tc.err); got != tc.want {
			t.Errorf("ReasonOf(%v): got %s, want %s", tc.err, got, tc.want)
		}
	}
}
