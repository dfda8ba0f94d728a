package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// frame returns body with its {packet,4} length prefix.
func frame(body []byte) []byte {
	var b bytes.Buffer
	if err := WriteFrame(&b, body); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 65535, MaxFrame} {
		body := bytes.Repeat([]byte{0xa5}, n)
		var stream bytes.Buffer
		if err := WriteFrame(&stream, body); err != nil {
			t.Fatalf("WriteFrame(%d bytes): %v", n, err)
		}
		if got, want := stream.Len(), 4+n; got != want {
			t.Fatalf("WriteFrame(%d bytes) wrote %d bytes, want %d", n, got, want)
		}
		got, err := ReadFrame(&stream)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("ReadFrame: got %d bytes, %v; want %d bytes, nil", len(got), err, n)
		}
		if _, err := ReadFrame(&stream); err != io.EOF {
			t.Fatalf("ReadFrame at end: got %v, want io.EOF", err)
		}
	}
}

func TestWriteFrameGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFrame(&b, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "\x00\x00\x00\x03abc"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestReadFrameTruncated cuts a stream of two frames at every length: the
// frames wholly inside the cut come back, then io.EOF if the cut falls
// between frames and io.ErrUnexpectedEOF if it falls inside one.
func TestReadFrameTruncated(t *testing.T) {
	bodies := [][]byte{[]byte(goldenRequests[0].body), {}, []byte("xyz")}
	var stream []byte
	var ends []int // offset after each frame
	for _, b := range bodies {
		stream = append(stream, frame(b)...)
		ends = append(ends, len(stream))
	}
	for cut := 0; cut <= len(stream); cut++ {
		r := bytes.NewReader(stream[:cut])
		whole := 0
		for _, end := range ends {
			if end <= cut {
				whole++
			}
		}
		for i := range whole {
			got, err := ReadFrame(r)
			if err != nil || !bytes.Equal(got, bodies[i]) {
				t.Fatalf("cut at %d, frame %d: got %q, %v; want %q, nil", cut, i, got, err, bodies[i])
			}
		}
		want := io.ErrUnexpectedEOF
		if cut == 0 || (whole > 0 && ends[whole-1] == cut) {
			want = io.EOF
		}
		if _, err := ReadFrame(r); err != want {
			t.Fatalf("cut at %d after %d frames: got %v, want %v", cut, whole, err, want)
		}
	}
}

// TestReadFrameOversized: a prefix over MaxFrame is reported at once, and
// nothing after the prefix is read (the stream is corrupt; skipping the
// declared length would read up to 4 GiB).
func TestReadFrameOversized(t *testing.T) {
	for _, size := range []uint32{MaxFrame + 1, 1 << 20, 0xFFFFFFFF} {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], size)
		rest := frame([]byte("next"))
		r := bytes.NewReader(append(hdr[:], rest...))
		if _, err := ReadFrame(r); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("prefix %d: got %v, want ErrFrameTooLarge", size, err)
		}
		if r.Len() != len(rest) {
			t.Errorf("prefix %d: read %d bytes past the prefix, want none", size, len(rest)-r.Len())
		}
	}
}

func TestReadFrameError(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"in header", iotest.ErrReader(boom)},
		{"in body", io.MultiReader(bytes.NewReader([]byte{0, 0, 0, 9, 1}), iotest.ErrReader(boom))},
	}
	for _, tc := range tests {
		if _, err := ReadFrame(tc.r); !errors.Is(err, boom) {
			t.Errorf("%s: got %v, want %v", tc.name, err, boom)
		}
	}
}

func TestReadFrameOneByteAtATime(t *testing.T) {
	body := []byte(goldenRequests[0].body)
	r := iotest.OneByteReader(bytes.NewReader(frame(body)))
	if got, err := ReadFrame(r); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("got %q, %v; want %q, nil", got, err, body)
	}
}

func TestWriteFrameError(t *testing.T) {
	boom := errors.New("boom")
	if err := WriteFrame(errWriter{boom}, []byte("abc")); !errors.Is(err, boom) {
		t.Errorf("got %v, want %v", err, boom)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }
