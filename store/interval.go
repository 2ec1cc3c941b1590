package store

import (
	"time"

	"github.com/tradetop/tradetop/store/internal/rowkey"
)

// IntervalName is the storage encoding of a window length: a positive whole
// number of days, hours, minutes or seconds, in the largest unit that divides
// d exactly ("1s", "5s", "1m", "90m", "1h", "1d"). ParseInterval reverses it.
// A d that is not a positive whole number of seconds has no storage encoding;
// IntervalName then returns d.String() ("1.5s", "-1m0s"), which ParseInterval
// rejects, and the stores refuse to write such a window.
func IntervalName(d time.Duration) string {
	name, err := rowkey.Interval(d)
	if err != nil {
		return d.String()
	}
	return name
}

// ParseInterval parses an interval written by IntervalName: a positive decimal
// count without sign or leading zeros, followed by one of the units s, m, h
// or d. It accepts a count in a smaller unit than IntervalName would pick
// ("60s" is a minute), but only IntervalName's form matches stored rows.
func ParseInterval(s string) (time.Duration, error) { return rowkey.ParseInterval(s) }
