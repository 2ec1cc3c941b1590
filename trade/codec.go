package trade

import (
	"bytes"
	"encoding/json"
	"errors"
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

// maxQuotedValue bounds how much of a bad value an error quotes.
const maxQuotedValue = 40

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
	if !decodeCompact(data, &w) {
		if err := json.Unmarshal(data, &w); err != nil {
			// encoding/json quotes a number of the wrong type whole, and
			// it may be 4 KB long: keep the error to one short line.
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && len(te.Value) > maxQuotedValue {
				te.Value = te.Value[:maxQuotedValue] + "…"
			}
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
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

// decodeCompact decodes the exact form AppendJSON writes, with plain ASCII
// strings, about ten times faster than encoding/json. It reports false for
// anything else, which then goes through encoding/json; for what it accepts
// both give the same result (FuzzCompactMatchesJSON).
func decodeCompact(data []byte, w *wire) bool {
	rest, ok := bytes.CutPrefix(data, []byte(`{"id":`))
	if !ok {
		return false
	}
	var id, sym []byte
	var price, volume []byte
	var ts []byte
	if id, rest, ok = plainString(rest); !ok {
		return false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"s":`)); !ok {
		return false
	}
	if sym, rest, ok = plainString(rest); !ok {
		return false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"p":`)); !ok {
		return false
	}
	if price, rest, ok = number(rest); !ok {
		return false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"v":`)); !ok {
		return false
	}
	if volume, rest, ok = number(rest); !ok {
		return false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"t":`)); !ok {
		return false
	}
	if ts, rest, ok = number(rest); !ok || string(rest) != "}" {
		return false
	}
	p, err := strconv.ParseFloat(string(price), 64)
	if err != nil {
		return false
	}
	v, err := strconv.ParseFloat(string(volume), 64)
	if err != nil {
		return false
	}
	t, err := strconv.ParseInt(string(ts), 10, 64)
	if err != nil {
		return false
	}
	*w = wire{ID: string(id), Symbol: string(sym), Price: p, Volume: v, Time: t}
	return true
}

// plainString reads a JSON string of printable ASCII without escapes.
func plainString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return b[1:i], b[i+1:], true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func number(b []byte) (n, rest []byte, ok bool) {
	i := 0
	digits := func() int {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return nil, nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return nil, nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, nil, false
		}
	}
	return b[:i], b[i:], true
}
