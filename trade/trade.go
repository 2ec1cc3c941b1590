// Package trade defines the one value every stage of tradetop passes along: a
// single executed trade, with its identity, and its wire codec (one JSON object
// per Kafka message and per line of a recording).
package trade

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Trade is one executed trade. It is a plain value: safe to copy and to share
// read-only between goroutines.
type Trade struct {
	// ID is deterministic: the source session and a sequence number for
	// generated and replayed trades, a content hash plus a sequence for live
	// feeds. Every store write is an upsert keyed by it.
	ID string
	// Symbol is the instrument, as the source names it ("AAPL", "BINANCE:BTCUSDT").
	Symbol string
	// Price is the execution price, > 0.
	Price float64
	// Volume is the traded quantity, > 0 (fractional for crypto).
	Volume float64
	// Time is the event time: when the trade happened, in UTC.
	Time time.Time
}

// Limits on what a valid trade may carry. Anything outside is bad input.
const (
	MaxIDLen     = 128
	MaxSymbolLen = 64
	MaxPrice     = 1e12
	MaxVolume    = 1e15
)

// ErrInvalid is wrapped by every validation error, so callers can count bad
// input with errors.Is.
var ErrInvalid = errors.New("invalid trade")

// Validate reports why t cannot be processed, or nil.
func (t *Trade) Validate() error {
	switch {
	case t.ID == "":
		return fmt.Errorf("%w: empty id", ErrInvalid)
	case len(t.ID) > MaxIDLen:
		return fmt.Errorf("%w: id longer than %d bytes", ErrInvalid, MaxIDLen)
	case !Printable(t.ID):
		return fmt.Errorf("%w: id is not printable UTF-8", ErrInvalid)
	case t.Symbol == "":
		return fmt.Errorf("%w: empty symbol", ErrInvalid)
	case len(t.Symbol) > MaxSymbolLen:
		return fmt.Errorf("%w: symbol longer than %d bytes", ErrInvalid, MaxSymbolLen)
	case !Printable(t.Symbol):
		return fmt.Errorf("%w: symbol is not printable UTF-8", ErrInvalid)
	case !(t.Price > 0) || t.Price > MaxPrice || math.IsInf(t.Price, 0):
		return fmt.Errorf("%w: price %v out of range (0, %g]", ErrInvalid, t.Price, float64(MaxPrice))
	case !(t.Volume > 0) || t.Volume > MaxVolume || math.IsInf(t.Volume, 0):
		return fmt.Errorf("%w: volume %v out of range (0, %g]", ErrInvalid, t.Volume, float64(MaxVolume))
	case t.Time.IsZero() || t.Time.Year() < 1971 || t.Time.Year() > 2200:
		return fmt.Errorf("%w: time %s out of range", ErrInvalid, t.Time.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// Day is the UTC calendar day of t, as the store partitions by it ("2026-01-02").
func Day(t time.Time) string {
	return t.UTC().Format(time.DateOnly)
}

// Printable reports whether s is valid UTF-8 without control characters, as
// every text field of a trade, and of the universe it belongs to, must be.
func Printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// Excerpt returns s cut to at most n bytes on a rune boundary, with "…"
// when it was cut: what an error message quotes of a bad value, so that a
// megabyte of input stays one short line.
func Excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
