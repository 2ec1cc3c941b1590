package trade

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The wire form of a trade is one JSON object:
//
//	{"id":"s7-1767366000000-42","s":"AAPL","p":189.23,"v":100,"t":1767366000123456789}
//
// with t the event time in Unix nanoseconds. Floats are written in their
// shortest form that reads back to the same value, so a trade survives a round
// trip bit for bit.
type wire struct {
	ID     string  `json:"id"`
	Symbol string  `json:"s"`
	Price  float64 `json:"p"`
	Volume float64 `json:"v"`
	Time   int64   `json:"t"`
}

// MaxEncodedLen bounds the size of a valid trade on the wire; larger input is
// rejected before it is parsed.
const MaxEncodedLen = 4096

// AppendJSON appends the wire form of t to dst. It does not validate t; the
// producer validates before encoding.
func AppendJSON(dst []byte, t *Trade) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, t.ID)
	dst = append(dst, `,"s":`...)
	dst = appendString(dst, t.Symbol)
	dst = append(dst, `,"p":`...)
	dst = strconv.AppendFloat(dst, t.Price, 'g', -1, 64)
	dst = append(dst, `,"v":`...)
	dst = strconv.AppendFloat(dst, t.Volume, 'g', -1, 64)
	dst = append(dst, `,"t":`...)
	dst = strconv.AppendInt(dst, t.Time.UnixNano(), 10)
	return append(dst, '}')
}

// UnmarshalJSON decodes one wire-form trade and validates it. Every failure is
// an error wrapping ErrInvalid or a JSON syntax error; it never panics.
func UnmarshalJSON(data []byte, t *Trade) error {
	if len(data) > MaxEncodedLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(data), MaxEncodedLen)
	}
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	*t = Trade{
		ID:     w.ID,
		Symbol: w.Symbol,
		Price:  w.Price,
		Volume: w.Volume,
		Time:   time.Unix(0, w.Time).UTC(),
	}
	if w.Time <= 0 {
		t.Time = time.Time{}
	}
	return t.Validate()
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. Valid trades hold printable UTF-8
// only, but any input yields valid JSON.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
