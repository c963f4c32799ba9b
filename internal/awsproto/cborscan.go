package awsproto

import "encoding/binary"

// Decoding costs more than reading: a 1 MiB body of nested empty lists is
// a million values, each a Go slice, then each a JSON array. checkCBOR
// walks the raw bytes once, allocating nothing, and refuses a body before
// it is decoded unless it is well formed and within these bounds, so the
// cost of CBORToJSON is bounded by them whatever the body limit is.
const (
	// maxCBORItems bounds the data items in a body (every map key, value,
	// list element and tag counts one). Real inputs have tens to hundreds.
	maxCBORItems = 16384
	// maxCBORJSONBytes bounds the JSON a body can turn into, counted
	// pessimistically (every string byte as a \u00XX escape) before
	// decoding.
	maxCBORJSONBytes = 8 << 20
)

// cborScan is a well-formedness check of RFC 8949 §C's kind, with limits.
type cborScan struct {
	b     []byte
	i     int
	items int
	out   int64 // upper bound of the JSON output, in bytes
}

// checkCBOR reports whether b holds exactly one well-formed data item
// within maxCBORDepth, maxCBORItems and maxCBORJSONBytes.
func checkCBOR(b []byte) error {
	s := &cborScan{b: b}
	if err := s.item(0); err != nil {
		return err
	}
	if s.i != len(b) {
		return Serialization("Malformed CBOR body: %d bytes after the top-level value", len(b)-s.i)
	}
	return nil
}

func (s *cborScan) grow(n int64) error {
	s.out += n
	if s.out > maxCBORJSONBytes {
		return Serialization("The CBOR body would expand to more than %d bytes of JSON", maxCBORJSONBytes)
	}
	return nil
}

func errCBORTruncated() error { return Serialization("Malformed CBOR body: unexpected end of input") }

// arg reads the argument of an initial byte with additional info ai.
func (s *cborScan) arg(ai byte) (uint64, error) {
	var n int
	switch {
	case ai < 24:
		return uint64(ai), nil
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	default:
		return 0, Serialization("Malformed CBOR body: reserved additional information %d", ai)
	}
	if len(s.b)-s.i < n {
		return 0, errCBORTruncated()
	}
	var buf [8]byte
	copy(buf[8-n:], s.b[s.i:s.i+n])
	s.i += n
	return binary.BigEndian.Uint64(buf[:]), nil
}

// isBreak consumes a break stop code if one is next.
func (s *cborScan) isBreak() (bool, error) {
	if s.i >= len(s.b) {
		return false, errCBORTruncated()
	}
	if s.b[s.i] == 0xff {
		s.i++
		return true, nil
	}
	return false, nil
}

func (s *cborScan) item(depth int) error {
	if depth > maxCBORDepth {
		return Serialization("CBOR body nested more than %d levels", maxCBORDepth)
	}
	s.items++
	if s.items > maxCBORItems {
		return Serialization("The CBOR body holds more than %d values", maxCBORItems)
	}
	if s.i >= len(s.b) {
		return errCBORTruncated()
	}
	ib := s.b[s.i]
	s.i++
	major, ai := ib>>5, ib&0x1f
	if major == 7 {
		switch {
		case ai == 31:
			return Serialization("Malformed CBOR body: unexpected break")
		case ai >= 28:
			return Serialization("Malformed CBOR body: reserved additional information %d", ai)
		}
		if _, err := s.arg(ai); err != nil {
			return err
		}
		return s.grow(26) // a float's longest JSON form, with a separator
	}
	if ai == 31 {
		return s.indefinite(major, depth)
	}
	n, err := s.arg(ai)
	if err != nil {
		return err
	}
	switch major {
	case 0, 1:
		return s.grow(22)
	case 2, 3:
		if n > uint64(len(s.b)-s.i) {
			return errCBORTruncated()
		}
		s.i += int(n)
		return s.grow(6*int64(n) + 3)
	case 4, 5:
		if major == 5 {
			if n > uint64(len(s.b)-s.i)/2 {
				return errCBORTruncated()
			}
			n *= 2
		} else if n > uint64(len(s.b)-s.i) {
			return errCBORTruncated()
		}
		if err := s.grow(2); err != nil {
			return err
		}
		for range n {
			if err := s.item(depth + 1); err != nil {
				return err
			}
		}
		return nil
	default: // 6, a tag
		return s.item(depth + 1)
	}
}

// indefinite checks an indefinite-length string, list or map.
func (s *cborScan) indefinite(major byte, depth int) error {
	switch major {
	case 2, 3:
		// Chunks: definite strings of the same major type.
		for {
			done, err := s.isBreak()
			if err != nil || done {
				return err
			}
			if s.b[s.i]>>5 != major || s.b[s.i]&0x1f == 31 {
				return Serialization("Malformed CBOR body: bad chunk in an indefinite-length string")
			}
			if err := s.item(depth + 1); err != nil {
				return err
			}
		}
	case 4, 5:
		if err := s.grow(2); err != nil {
			return err
		}
		for k := 0; ; k++ {
			done, err := s.isBreak()
			if err != nil {
				return err
			}
			if done {
				if major == 5 && k%2 == 1 {
					return Serialization("Malformed CBOR body: map key without a value")
				}
				return nil
			}
			if err := s.item(depth + 1); err != nil {
				return err
			}
		}
	}
	return Serialization("Malformed CBOR body: major type %d cannot have an indefinite length", major)
}
