package alert

import (
	"sort"
	"time"
)

// seriesSamples is about how many samples a series keeps over its span:
// one per span/seriesSamples at most, so that a long window costs no more
// than a short one, and a value looked up is at most that much older than
// asked.
const seriesSamples = 1024

// series is a value over time, sampled from the snapshots, as far back as
// a span.
type series struct {
	span, step time.Duration
	s          []sample // oldest first
}

type sample struct {
	t time.Time
	v float64
}

func newSeries(span time.Duration) series {
	return series{span: span, step: span / seriesSamples}
}

// add records v at t, forgetting what is older than the span needs. A
// sample sooner than a step after the last is not kept; one earlier than
// the last starts the series again.
func (x *series) add(t time.Time, v float64) {
	if n := len(x.s); n > 0 {
		last := x.s[n-1].t
		if t.Before(last) {
			x.reset()
		} else if t.Sub(last) < x.step || t.Equal(last) {
			return
		}
	}
	x.s = append(x.s, sample{t, v})
	// Keep the newest sample at or before t − span, and all after it.
	cut := t.Add(-x.span)
	i := 0
	for i+1 < len(x.s) && !x.s[i+1].t.After(cut) {
		i++
	}
	if i > 0 {
		x.s = append(x.s[:0], x.s[i:]...)
	}
}

// at returns the value of the newest sample at or before t, and false when
// the series does not reach back to t.
func (x *series) at(t time.Time) (float64, bool) {
	i := sort.Search(len(x.s), func(i int) bool { return x.s[i].t.After(t) })
	if i == 0 {
		return 0, false
	}
	return x.s[i-1].v, true
}

func (x *series) reset() { x.s = x.s[:0] }
