package rowkey

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

// Interval is the interval column of a window of length d, as
// store.IntervalName documents it, or an error for a d that has no such
// encoding: one that is not a positive whole number of seconds.
func Interval(d time.Duration) (string, error) {
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

// ParseInterval reads an interval column, as store.ParseInterval documents
// it.
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
