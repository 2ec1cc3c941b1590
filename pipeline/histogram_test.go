package pipeline

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	for i := 0; i < 60*subBuckets; i++ {
		lo := lowerBound(i)
		if got := bucketOf(lo); got != i {
			t.Fatalf("bucketOf(lowerBound(%d)=%d) = %d", i, lo, got)
		}
		if hi := lowerBound(i + 1); bucketOf(hi-1) != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", hi-1, bucketOf(hi-1), i)
		}
	}
}

func TestQuantilesWithinBucketError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h histogram
	ds := make([]time.Duration, 100000)
	for i := range ds {
		ds[i] = time.Duration(r.ExpFloat64() * float64(20*time.Millisecond))
	}
	h.recordAll(ds)
	slices.Sort(ds)
	s := h.summary()
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"p50", s.P50, ds[len(ds)/2]},
		{"p99", s.P99, ds[len(ds)*99/100]},
		{"max", s.Max, ds[len(ds)-1]},
	} {
		if diff := float64(c.got-c.want) / float64(c.want); diff > 0.07 || diff < -0.07 {
			t.Errorf("%s = %v, want %v within 7%%", c.name, c.got, c.want)
		}
	}
	if s.N != uint64(len(ds)) {
		t.Errorf("N = %d, want %d", s.N, len(ds))
	}
	var empty histogram
	if empty.summary() != (Latency{}) {
		t.Errorf("empty histogram summary = %+v", empty.summary())
	}
}
