package pipeline

import (
	"math/bits"
	"sync"
	"time"
)

// histogram records durations in log-linear buckets: 16 sub-buckets per
// power of two, so a quantile is within about 6% of the true value, in a
// fixed 8 KiB whatever the run's length. It is safe for concurrent use.
type histogram struct {
	mu     sync.Mutex
	counts [64 * subBuckets]uint64
	n      uint64
	max    time.Duration
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
	h.mu.Lock()
	for _, d := range ds {
		if d < 0 {
			d = 0
		}
		h.counts[bucketOf(uint64(d))]++
		h.n++
		h.max = max(h.max, d)
	}
	h.mu.Unlock()
}

// Latency summarizes a histogram.
type Latency struct {
	P50 time.Duration
	P99 time.Duration
	Max time.Duration
	N   uint64
}

func (h *histogram) summary() Latency {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Latency{P50: h.quantile(0.50), P99: h.quantile(0.99), Max: h.max, N: h.n}
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
