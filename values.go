package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/pipeline"
)

// roleValue is a pipeline role: all, ingest or process.
type roleValue pipeline.Role

func (r *roleValue) String() string { return pipeline.Role(*r).String() }

func (r *roleValue) Set(s string) error {
	v, err := pipeline.ParseRole(s)
	if err != nil {
		return errors.New("want all, ingest or process")
	}
	*r = roleValue(v)
	return nil
}

// maxSpeed is the fastest --speed but max.
const maxSpeed = 1e6

// rateValue is trades per second; 0 means as fast as the pipeline takes them.
type rateValue float64

func (r *rateValue) String() string { return formatPace(float64(*r)) }

func (r *rateValue) Set(s string) error {
	f, ok := parsePace(s, feed.MaxRate)
	if !ok {
		return fmt.Errorf("want a number of trades per second above 0 and at most %g, or max", feed.MaxRate)
	}
	*r = rateValue(f)
	return nil
}

// speedValue is a replay speed: a positive factor, or 0 for max.
type speedValue float64

func (v *speedValue) String() string { return formatPace(float64(*v)) }

func (v *speedValue) Set(s string) error {
	f, ok := parsePace(s, maxSpeed)
	if !ok {
		return errors.New("want a factor above 0 (1 is as recorded), or max")
	}
	*v = speedValue(f)
	return nil
}

// parsePace reads a pace, --rate's or --speed's: max, in any case, is 0,
// as fast as the pipeline takes the trades; else a number above 0 and at
// most limit. It reports whether s is one.
func parsePace(s string, limit float64) (float64, bool) {
	if strings.EqualFold(s, "max") {
		return 0, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || f > limit {
		return 0, false
	}
	return f, true
}

// formatPace writes a pace as parsePace reads it.
func formatPace(v float64) string {
	if v == 0 {
		return "max"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// timeValue is an RFC 3339 time; zero means unset.
type timeValue time.Time

func (t *timeValue) String() string {
	if time.Time(*t).IsZero() {
		return ""
	}
	return time.Time(*t).Format(time.RFC3339Nano)
}

func (t timeValue) isZero() bool { return time.Time(t).IsZero() }

func (t timeValue) time() time.Time { return time.Time(t) }

func (t *timeValue) Set(s string) error {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return errors.New("want an RFC 3339 time such as 2026-01-02T15:00:00Z")
	}
	// Trades are valid from 1971 to 2200 in UTC, whatever the offset.
	v = v.UTC()
	if v.Year() < 1971 || v.Year() > 2200 {
		return errors.New("want a year from 1971 to 2200 (in UTC)")
	}
	*t = timeValue(v)
	return nil
}

// durationValue is a duration such as 30s or 1h30m.
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want a duration such as 500ms, 30s, 5m or 1h30m")
	}
	*d = durationValue(v)
	return nil
}

// listValue is a comma-separated list.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }

func (l *listValue) Set(s string) error {
	*l = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	if len(*l) == 0 {
		// --symbols is a list too, so not "host:port".
		return errors.New("want a comma-separated list of at least one item")
	}
	return nil
}

// durationsValue is a comma-separated list of durations.
type durationsValue []time.Duration

func (d *durationsValue) String() string {
	parts := make([]string, len(*d))
	for i, v := range *d {
		parts[i] = v.String()
	}
	return strings.Join(parts, ",")
}

func (d *durationsValue) Set(s string) error {
	var out durationsValue
	for _, part := range strings.Split(s, ",") {
		v, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("want durations such as 1s,1m: %q is not one", part)
		}
		out = append(out, v)
	}
	*d = out
	return nil
}
