package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ergo-services/ergo/etf"
)

// seedBodies are the golden and hostile bodies, the fuzzers' starting points.
func seedBodies() [][]byte {
	var seeds [][]byte
	for _, tc := range goldenRequests {
		seeds = append(seeds, []byte(tc.body))
	}
	for _, tc := range hostile {
		if len(tc.body) <= 512 {
			seeds = append(seeds, []byte(tc.body))
		}
	}
	return seeds
}

func FuzzReadFrame(f *testing.F) {
	for _, b := range seedBodies() {
		f.Add(frame(b))
	}
	f.Add([]byte("iiiii0"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 'x'})
	f.Add([]byte{0, 1, 0, 1, 0, 0, 0, 1, 'x'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		consumed := 0
		for {
			body, err := ReadFrame(r)
			switch {
			case err == nil:
				if len(body) > MaxFrame {
					t.Fatalf("got a %d-byte body, limit %d", len(body), MaxFrame)
				}
				consumed += 4 + len(body)
				if got := len(data) - r.Len(); got != consumed {
					t.Fatalf("consumed %d bytes, frames account for %d", got, consumed)
				}
				continue
			case errors.Is(err, ErrFrameTooLarge):
				if got := len(data) - r.Len(); got != consumed+4 {
					t.Fatalf("oversized prefix: consumed %d bytes, want %d (the prefix)", got, consumed+4)
				}
			case err == io.EOF:
				if r.Len() != 0 || consumed != len(data) {
					t.Fatalf("io.EOF with %d bytes unread, %d consumed of %d", r.Len(), consumed, len(data))
				}
			case err == io.ErrUnexpectedEOF:
				if r.Len() != 0 {
					t.Fatalf("io.ErrUnexpectedEOF with %d bytes unread", r.Len())
				}
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	for _, b := range seedBodies() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Whatever checkTerm accepts, ergo must decode: otherwise checkTerm
		// is looser than it believes, and the next gap may be an allocation.
		if len(data) > 0 && data[0] == versionByte {
			if _, err := decodeTerm(data[1:]); errors.Is(err, errDecoder) {
				t.Fatalf("checkTerm accepted what ergo refused: %v", err)
			}
		}
		orig := bytes.Clone(data)
		req, err := DecodeRequest(data)
		if !bytes.Equal(data, orig) {
			t.Fatalf("DecodeRequest changed its input")
		}
		if err != nil {
			n := 0
			for _, e := range []error{ErrUnreadableTag, ErrBadRequest, ErrBadHost} {
				if errors.Is(err, e) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %v matches %d of the three DecodeRequest errors, want 1", err, n)
			}
			if errors.Is(err, errDecoder) {
				t.Fatalf("checkTerm accepted what ergo refused: %v", err)
			}
			return
		}
		var cmd etf.Term
		switch req.Cmd {
		case Ping:
			cmd = etf.Atom("ping")
		case List:
			cmd = etf.Atom("list")
		case Resolve:
			if err := CheckHost(req.Host); err != nil {
				t.Fatalf("decoded a bad host: %v", err)
			}
			cmd = etf.Tuple{etf.Atom("resolve"), []byte(req.Host), etf.Atom(req.Family.String())}
			if req.Family != Inet && req.Family != Inet6 {
				t.Fatalf("decoded family %v", req.Family)
			}
		default:
			t.Fatalf("decoded command %v", req.Cmd)
		}
		// What decodes must survive a round trip through the encoding the
		// Erlang side uses.
		again, err := DecodeRequest(requestBody(req.Tag, cmd))
		if err != nil || again != req {
			t.Fatalf("round trip: got %+v, %v; want %+v", again, err, req)
		}
	})
}
