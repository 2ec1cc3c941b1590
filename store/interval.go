package store

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// intervalUnits are the units an interval is named in, largest first.
var intervalUnits = [...]struct {
	d    time.Duration
	unit byte
}{
	{24 * time.Hour, 'd'},
	{time.Hour, 'h'},
	{time.Minute, 'm'},
	{time.Second, 's'},
}

// IntervalName is the storage encoding of a window length: a positive whole
// number of days, hours, minutes or seconds, in the largest unit that divides
// d exactly ("1s", "5s", "1m", "90m", "1h", "1d"). ParseInterval reverses it.
// A d that is not a positive whole number of seconds has no storage encoding;
// IntervalName then returns d.String() ("1.5s", "-1m0s"), which ParseInterval
// rejects, and the stores refuse to write such a window.
func IntervalName(d time.Duration) string {
	name, err := intervalName(d)
	if err != nil {
		return d.String()
	}
	return name
}

// intervalName is IntervalName with an error for a d that has no encoding.
func intervalName(d time.Duration) (string, error) {
	if d <= 0 || d%time.Second != 0 {
		return "", fmt.Errorf("interval %s is not a positive whole number of seconds", d)
	}
	u := intervalUnits[len(intervalUnits)-1] // seconds divide d
	for _, c := range intervalUnits {
		if d%c.d == 0 {
			u = c
			break
		}
	}
	return strconv.FormatInt(int64(d/u.d), 10) + string(u.unit), nil
}

// ParseInterval parses an interval written by IntervalName: a positive decimal
// count without sign or leading zeros, followed by one of the units s, m, h
// or d. It accepts a count in a smaller unit than IntervalName would pick
// ("60s" is a minute), but only IntervalName's form matches stored rows.
func ParseInterval(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("parsing interval %q: want a count and a unit (s, m, h, d)", s)
	}
	digits, unit := s[:len(s)-1], s[len(s)-1]
	var d time.Duration
	for _, u := range intervalUnits {
		if u.unit == unit {
			d = u.d
		}
	}
	if d == 0 {
		return 0, fmt.Errorf("parsing interval %q: unknown unit %q, want s, m, h or d", s, unit)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("parsing interval %q: count is not a decimal number", s)
		}
	}
	if len(digits) > 1 && digits[0] == '0' {
		return 0, fmt.Errorf("parsing interval %q: count has a leading zero", s)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	switch {
	case err != nil || n > math.MaxInt64/int64(d):
		return 0, fmt.Errorf("parsing interval %q: out of range", s)
	case n == 0:
		return 0, fmt.Errorf("parsing interval %q: not positive", s)
	}
	return time.Duration(n) * d, nil
}
