package tui

import (
	"math"
	"strconv"
	"time"
)

// fmtPrice prints a price with the decimals its size needs.
func fmtPrice(p float64) string {
	switch {
	case p == 0:
		return "—"
	case p < 1:
		return strconv.FormatFloat(p, 'f', 4, 64)
	default:
		return strconv.FormatFloat(p, 'f', 2, 64)
	}
}

// fmtInt prints n with thousands separators: 1,234,567.
func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	start := 0
	if n < 0 {
		start = 1
	}
	if len(s)-start <= 3 {
		return s
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	out = append(out, s[:start]...)
	for i := start; i < len(s); i++ {
		if i > start && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// fmtCompact prints v in at most about five characters: 950, 12.3k, 4.56M.
func fmtCompact(v float64) string {
	a := math.Abs(v)
	switch {
	case a < 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a < 10e3:
		return strconv.FormatFloat(v/1e3, 'f', 2, 64) + "k"
	case a < 1e6:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case a < 10e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case a < 1e9:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	case a < 1e12:
		return strconv.FormatFloat(v/1e9, 'f', 2, 64) + "B"
	default:
		return strconv.FormatFloat(v/1e12, 'f', 2, 64) + "T"
	}
}

// fmtRate prints a per-second rate compactly, with one decimal below ten.
func fmtRate(v float64) string {
	if v > 0 && v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return fmtCompact(v)
}

// fmtPct prints a signed percentage: +1.23%.
func fmtPct(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	if v >= 0 {
		s = "+" + s
	}
	return s + "%"
}

// fmtUptime prints a duration as h:mm:ss.
func fmtUptime(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	h, m := s/3600, s/60%60
	s %= 60
	return strconv.FormatInt(h, 10) + ":" + two(m) + ":" + two(s)
}

func two(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// fmtAge prints a short duration: 0.4s, 12s, 3m05s, 2h10m.
func fmtAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d < time.Hour:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m" + two(int64(d/time.Second)%60) + "s"
	default:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h" + two(int64(d/time.Minute)%60) + "m"
	}
}

// fmtSpan prints a window length the way a chart label says it: 40s, 2m, 10m.
func fmtSpan(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Minute == 0 || d >= 10*time.Minute:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return strconv.FormatFloat(d.Minutes(), 'f', 1, 64) + "m"
	}
}

// roundSpan rounds a span to what fmtSpan prints: seconds under a minute,
// tenths of a minute under ten, minutes past that.
func roundSpan(d time.Duration) time.Duration {
	switch {
	case d < time.Minute:
		return d.Round(time.Second)
	case d < 10*time.Minute:
		return d.Round(6 * time.Second)
	}
	return d.Round(time.Minute)
}

// fmtInterval prints a candle window: 1s, 1m, 5m, 1h.
func fmtInterval(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return d.String()
	}
}

// clock prints a time of day in the local zone.
func clock(t time.Time) string {
	if t.IsZero() {
		return "--:--:--"
	}
	return t.Local().Format("15:04:05")
}

// stamp prints a time of day in the local zone, with its date when it is
// not on now's day: 15:04:05, Jan 2 15:04:05, 2025-12-31 15:04:05.
func stamp(t, now time.Time) string {
	if t.IsZero() {
		return "--:--:--"
	}
	lt, ln := t.Local(), now.Local()
	switch {
	case sameDay(lt, ln):
		return lt.Format("15:04:05")
	case lt.Year() == ln.Year():
		return lt.Format("Jan 2 15:04:05")
	}
	return lt.Format("2006-01-02 15:04:05")
}

// timeRange prints the span [from, to) with its zone: 15:00:10–15:01:00
// UTC, with dates where a day is not now's or the span crosses midnight.
func timeRange(from, to, now time.Time) string {
	end := clock(to)
	if !sameDay(from.Local(), to.Local()) {
		end = to.Local().Format("Jan 2 15:04:05")
		if to.Local().Year() != now.Local().Year() {
			end = to.Local().Format("2006-01-02 15:04:05")
		}
	}
	return stamp(from, now) + "–" + end + " " + zone(to)
}

func sameDay(a, b time.Time) bool {
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// zone names the local time zone at t, as the UI's times are printed in
// it: UTC, CET, or an offset such as +0530 for a zone without a name.
func zone(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return t.Local().Format("MST")
}

// trimFloat prints v with prec decimals.
func trimFloat(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
