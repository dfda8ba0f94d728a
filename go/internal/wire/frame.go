package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// MaxFrame is the largest body ReadFrame accepts. Requests are a few dozen
// bytes; the cap exists so that a corrupt or hostile length prefix can never
// make the helper allocate more than this.
const MaxFrame = 64 << 10

// ErrFrameTooLarge reports a frame whose declared length exceeds MaxFrame
// (from ReadFrame: the stream is corrupt) or does not fit in the 4-byte
// length prefix (from WriteFrame).
var ErrFrameTooLarge = errors.New("frame too large")

// ReadFrame reads one {packet,4} frame from r and returns its body.
//
// It returns io.EOF, and nothing else, when r ends cleanly between frames,
// and io.ErrUnexpectedEOF when r ends inside one. A body longer than MaxFrame
// is read and thrown away in small pieces rather than allocated, and
// ReadFrame then returns an error matching ErrFrameTooLarge: the stream is
// still in step and the caller may read the next frame. r should be buffered.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		// io.ReadFull already maps "nothing read" to io.EOF and "part of the
		// header read" to io.ErrUnexpectedEOF, which is the contract above.
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, err
		}
		return nil, fmt.Errorf("read frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		// Allocating n bytes is what a hostile prefix such as 0xFFFFFFFF
		// wants; reading them, a corrupt stream's end.
		return nil, fmt.Errorf("%w: a length prefix of %d bytes, limit %d: the input is corrupt", ErrFrameTooLarge, n, MaxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read frame body: %w", err)
	}
	return body, nil
}

// WriteFrame writes body to w as one {packet,4} frame. Replies are not
// capped at MaxFrame, since a list of many containers may legitimately be
// longer, only at what the length prefix can express. w should be buffered:
// the prefix and the body are two writes.
func WriteFrame(w io.Writer, body []byte) error {
	if uint64(len(body)) > math.MaxUint32 {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(body))
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	if _, err := w.Write(hdr[:]); err != nil {
		return fmt.Errorf("write frame header: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("write frame body: %w", err)
	}
	return nil
}
