// Package rowkey is how the stores key their rows: the interval and day
// columns, the times a row can hold, the order of candle keys and the
// trade_index row of Cassandra and PostgreSQL. The schemas mirror each
// other (SQLite keeps its trades in time order), and one definition here
// keeps them in step.
package rowkey

import (
	"cmp"
	"math"
	"strings"
	"time"

	"github.com/tradetop/tradetop/agg"
)

// Index is a trade_index row: a symbol a Kafka partition carried on a day.
type Index struct {
	Partition int32
	Day       int64 // days since the Unix epoch
	Symbol    string
}

// FloorDiv is a / b rounded down, for b > 0: the day of a time before 1970
// is the one before, not day 0.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// Times outside [minTime, maxTime] have no int64 Unix nanosecond form.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// ClampTime returns t moved into the range of times that have an int64
// Unix nanosecond form.
func ClampTime(t time.Time) time.Time {
	switch {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t
}

// UnixNano is t in Unix nanoseconds, or false when t has no such form.
func UnixNano(t time.Time) (int64, bool) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, false
	}
	return t.UnixNano(), true
}

// CompareCandleKeys orders candles by their primary key in both stores:
// symbol, interval, start (the day follows from the start).
func CompareCandleKeys(a, b *agg.Candle) int {
	if c := strings.Compare(a.Symbol, b.Symbol); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Interval, b.Interval); c != 0 {
		return c
	}
	return a.Start.Compare(b.Start)
}

// CandleID is a candle row's primary key in every store (the day follows
// from the start).
type CandleID struct {
	Symbol   string
	Interval time.Duration
	Start    int64 // Unix ns
}

// CandleKey is c's primary key.
func CandleKey(c *agg.Candle) CandleID {
	return CandleID{Symbol: c.Symbol, Interval: c.Interval, Start: c.Start.UnixNano()}
}

// SectorID is a sector volume row's primary key in every store (the day
// follows from the start).
type SectorID struct {
	Sector    string
	Start     int64 // Unix ns
	Partition int32
}

// SectorKey is s's primary key.
func SectorKey(s *agg.SectorVolume) SectorID {
	return SectorID{Sector: s.Sector, Start: s.Start.UnixNano(), Partition: s.Partition}
}

// KeepLast returns rows without each row whose key a later row has: of
// copies of one key in a batch, every store keeps the last written. The
// rows kept stay in their order, in rows' array.
func KeepLast[T any, K comparable](rows []T, key func(*T) K) []T {
	last := make(map[K]int, len(rows))
	for i := range rows {
		last[key(&rows[i])] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	out := rows[:0]
	for i := range rows {
		if last[key(&rows[i])] == i {
			out = append(out, rows[i])
		}
	}
	return out
}
