package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/lib"
)

// External term format tags (erts/emulator/beam/external.h). Only the ones a
// request can contain are listed; everything else is rejected by checkTerm.
const (
	versionByte      = 131
	smallIntegerExt  = 97
	integerExt       = 98
	atomExt          = 100 // latin-1; term_to_binary/1 emits it up to OTP 25
	smallTupleExt    = 104
	largeTupleExt    = 105
	nilExt           = 106
	stringExt        = 107
	listExt          = 108
	binaryExt        = 109
	smallBigExt      = 110
	smallAtomExt     = 115
	atomUTF8Ext      = 118
	smallAtomUTF8Ext = 119 // what term_to_binary/1 emits from OTP 26 on
)

const (
	// maxDepth bounds nesting. A request nests three deep; the bound keeps
	// the recursive checkTerm and ergo's decoder stack small.
	maxDepth = 64
	// maxAtomBytes is Erlang's limit: 255 characters of up to 4 bytes each.
	maxAtomBytes = 255 * 4
	// maxStringLen keeps STRING_EXT lengths below the point where ergo's
	// uint16 arithmetic (n+2) wraps around and slices out of range.
	maxStringLen = 0xFFFF - 2
)

// errDecoder marks a term that checkTerm accepted but ergo's decoder still
// refused or panicked on: a gap in checkTerm, which the fuzz target looks for.
var errDecoder = errors.New("etf decoder")

// checkTerm walks one ETF term (without the version byte) at the start of b
// and returns the bytes after it. It exists because ergo's etf.Decode trusts
// every declared length and arity: LARGE_TUPLE_EXT with arity 0x69696969 (the
// six bytes "iiiii0") makes it allocate gigabytes, and the runtime then dies
// of an out-of-memory error that recover() cannot catch. So every declared
// size is checked against the bytes that remain before the decoder runs: a
// length must be present in full, and an aggregate of n elements needs at
// least n more bytes, since every element takes at least one. That bounds
// what the decoder allocates by the size of the input.
//
// Only the types a request can use are accepted (integers of up to 64 bits,
// atoms, tuples, lists, binaries); pids, references, funs, maps, floats and the rest are
// rejected, which also keeps the decoder's less travelled paths out of reach.
func checkTerm(b []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, errors.New("term nested too deeply")
	}
	if len(b) == 0 {
		return nil, errors.New("term truncated")
	}
	t, b := b[0], b[1:]
	switch t {
	case smallIntegerExt:
		return skip(b, 1)
	case integerExt:
		return skip(b, 4)
	case smallBigExt:
		// SMALL_BIG_EXT: length byte, sign byte, then length digit bytes.
		if len(b) < 2 {
			return nil, errors.New("small big truncated")
		}
		if b[0] > 8 {
			// No request needs more than 64 bits, and ergo decodes longer
			// bigs by reversing their digits in place, in the caller's
			// buffer.
			return nil, fmt.Errorf("integer of %d bytes", b[0])
		}
		return skip(b[2:], int(b[0]))
	case atomExt, atomUTF8Ext:
		if len(b) < 2 {
			return nil, errors.New("atom truncated")
		}
		n := int(binary.BigEndian.Uint16(b))
		if n > maxAtomBytes {
			return nil, fmt.Errorf("atom of %d bytes", n)
		}
		return skip(b[2:], n)
	case smallAtomExt, smallAtomUTF8Ext:
		if len(b) < 1 {
			return nil, errors.New("atom truncated")
		}
		return skip(b[1:], int(b[0]))
	case stringExt:
		if len(b) < 2 {
			return nil, errors.New("string truncated")
		}
		n := int(binary.BigEndian.Uint16(b))
		if n > maxStringLen {
			return nil, fmt.Errorf("string of %d bytes", n)
		}
		return skip(b[2:], n)
	case binaryExt:
		if len(b) < 4 {
			return nil, errors.New("binary truncated")
		}
		return skip(b[4:], int(binary.BigEndian.Uint32(b)))
	case nilExt:
		return b, nil
	case smallTupleExt:
		if len(b) < 1 {
			return nil, errors.New("tuple truncated")
		}
		return checkElems(b[1:], int(b[0]), depth)
	case largeTupleExt:
		if len(b) < 4 {
			return nil, errors.New("tuple truncated")
		}
		return checkElems(b[4:], int(binary.BigEndian.Uint32(b)), depth)
	case listExt:
		if len(b) < 4 {
			return nil, errors.New("list truncated")
		}
		n := int(binary.BigEndian.Uint32(b))
		if n == 0 {
			// An empty list is NIL_EXT; ergo rejects LIST_EXT of length 0.
			return nil, errors.New("list of length 0")
		}
		// The elements, then the tail.
		return checkElems(b[4:], n+1, depth)
	default:
		return nil, fmt.Errorf("unsupported term type %d", t)
	}
}

// checkElems checks n consecutive terms one level below depth.
func checkElems(b []byte, n, depth int) ([]byte, error) {
	if n > len(b) {
		return nil, fmt.Errorf("%d elements declared, %d bytes left", n, len(b))
	}
	var err error
	for range n {
		if b, err = checkTerm(b, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// skip returns b without its first n bytes, or an error if it is shorter.
func skip(b []byte, n int) ([]byte, error) {
	if n > len(b) {
		return nil, fmt.Errorf("%d bytes declared, %d left", n, len(b))
	}
	return b[n:], nil
}

// decodeTerm decodes b, one complete ETF term without the version byte, with
// ergo's decoder, after checkTerm has vouched for every size in it.
func decodeTerm(b []byte) (term etf.Term, err error) {
	rest, err := checkTerm(b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the term", len(rest))
	}
	if len(b) == 1 && b[0] == nilExt {
		// ergo dereferences its (empty) stack on a top-level NIL_EXT.
		return etf.List{}, nil
	}
	// Second line of defence: ergo recovers its own panics unless told not
	// to by a command-line flag, and a panic here must never reach the
	// caller either way.
	defer func() {
		if r := recover(); r != nil {
			term, err = nil, fmt.Errorf("%w: panic: %v", errDecoder, r)
		}
	}()
	term, rest, err = etf.Decode(b, nil, etf.DecodeOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDecoder, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes left over", errDecoder, len(rest))
	}
	return term, nil
}

// encodeTerm returns the term in external format, with the version byte that
// ergo leaves out and binary_to_term/2 requires.
func encodeTerm(term etf.Term) ([]byte, error) {
	// A non-empty capacity matters: lib.Buffer grows by multiplying its
	// capacity and never grows from zero.
	buf := &lib.Buffer{B: make([]byte, 1, 128)}
	buf.B[0] = versionByte
	if err := etf.Encode(term, buf, etf.EncodeOptions{}); err != nil {
		return nil, fmt.Errorf("encode term: %w", err)
	}
	return buf.B, nil
}
