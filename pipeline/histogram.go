package pipeline

import (
	"math/bits"
	"sync"
	"time"

	"github.com/tradetop/tradetop/state"
)

// histogram counts durations in log-linear buckets: 16 sub-buckets per
// power of two, so a quantile is within about 6% of the true value, in a
// fixed 8 KiB whatever the run's length. It is a plain value, not safe for
// concurrent use; latencies guards the histograms it holds.
type histogram struct {
	counts [64 * subBuckets]uint64
	n      uint64
	max    time.Duration
	sum    float64 // seconds
}

const subBits = 4
const subBuckets = 1 << subBits

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(v) - 1 - subBits // shift that leaves subBits+1 significant bits
	return (exp+1)*subBuckets + int(v>>exp) - subBuckets
}

// lowerBound is the smallest value in bucket i.
func lowerBound(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i/subBuckets - 1
	return uint64(i%subBuckets+subBuckets) << exp
}

// recordAll adds every duration of ds.
func (h *histogram) recordAll(ds []time.Duration) {
	for _, d := range ds {
		if d < 0 {
			d = 0
		}
		h.counts[bucketOf(uint64(d))]++
		h.max = max(h.max, d)
		h.sum += d.Seconds()
	}
	h.n += uint64(len(ds))
}

// merge adds everything o holds.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
	h.sum += o.sum
}

func (h *histogram) summary() state.Latency {
	return state.Latency{P50: h.quantile(0.50), P99: h.quantile(0.99), Max: h.max, N: h.n, Sum: h.sum}
}

// buckets returns, for each of state.LatencyBounds, how many values are at
// most that bound: every value of each fine bucket that lies wholly below
// it, so a count may miss the values of the one fine bucket a bound cuts
// (at most about 6% of the bound apart).
func (h *histogram) buckets() []uint64 {
	out := make([]uint64, len(state.LatencyBounds))
	var seen uint64
	i := 0
	for b, bound := range state.LatencyBounds {
		for ; i < len(h.counts) && lowerBound(i+1) <= uint64(bound)+1; i++ {
			seen += h.counts[i]
		}
		out[b] = seen
	}
	return out
}

// quantile returns the midpoint of the bucket holding the q-th value, capped
// at the maximum seen.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := lowerBound(i), lowerBound(i+1)
			return min(time.Duration(lo+(hi-lo)/2), h.max)
		}
	}
	return h.max
}

// RecentWindow is how far back Snapshot.RecentLatency looks: the figures
// are over the trades stored in the current second and the nine before it.
const RecentWindow = 10 * time.Second

// recentSlots is how many one-second histograms RecentWindow is made of.
const recentSlots = 10

const slotWidth = RecentWindow / recentSlots

// latencies keeps the latency of every stored trade, for the whole run and
// for the last RecentWindow. Any goroutine may call it: the store writer
// records, and publish summarises.
//
// Each trade is counted once, in the slot of the second it was stored in.
// The slots form a ring; before a slot is reused for a newer second, what it
// holds is folded into run. So recording costs one histogram's increment
// per trade, and the whole run is run plus every slot.
type latencies struct {
	mu     sync.Mutex
	run    histogram // trades of seconds whose slots were reused
	slots  [recentSlots]histogram
	second [recentSlots]int64 // which second each slot holds, as time / slotWidth
	newest int64              // the newest second recorded
}

// record adds the latencies ds of trades stored at the given time. A clock
// that steps back puts them in the newest second seen.
func (l *latencies) record(at time.Time, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	sec := at.UnixNano() / int64(slotWidth)
	l.mu.Lock()
	defer l.mu.Unlock()
	sec = max(sec, l.newest)
	l.newest = sec
	i := int(sec % recentSlots)
	s := &l.slots[i]
	if l.second[i] != sec {
		l.run.merge(s)
		*s = histogram{}
		l.second[i] = sec
	}
	s.recordAll(ds)
}

// summaries returns the figures of the whole run and of the RecentWindow
// up to now.
func (l *latencies) summaries(now time.Time) (run, recent state.Latency) {
	var all, rec histogram
	l.mu.Lock()
	sec := max(now.UnixNano()/int64(slotWidth), l.newest)
	all = l.run
	for i := range l.slots {
		s := &l.slots[i]
		all.merge(s)
		if l.second[i] > sec-recentSlots {
			rec.merge(s)
		}
	}
	l.mu.Unlock()
	run = all.summary()
	run.Buckets = all.buckets()
	return run, rec.summary()
}
