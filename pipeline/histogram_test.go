package pipeline

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tradetop/tradetop/state"
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
	if !reflect.DeepEqual(empty.summary(), state.Latency{}) {
		t.Errorf("empty histogram summary = %+v", empty.summary())
	}
}

// latenciesAt returns n copies of d.
func latenciesAt(d time.Duration, n int) []time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = d
	}
	return ds
}

func TestRecentLatencyForgetsASlowSpell(t *testing.T) {
	// replay records, up to upTo after pinned, two seconds of slow writes,
	// then fast ones every second until second 30.
	replay := func(upTo time.Duration) *latencies {
		l := new(latencies)
		for s := time.Duration(0); s <= 30 && s*time.Second <= upTo; s++ {
			d, n := 10*time.Millisecond, 1000
			if s < 2 {
				d, n = 2*time.Second, 500
			}
			l.record(pinned.Add(s*time.Second), latenciesAt(d, n))
		}
		return l
	}
	for _, tt := range []struct {
		name    string
		at      time.Duration // after pinned
		runN    uint64
		recentN uint64
		slowP99 bool
	}{
		{"during the slow spell", 1500 * time.Millisecond, 1000, 1000, true},
		{"its last second still in the window", 10*time.Second + 900*time.Millisecond, 10000, 500 + 9*1000, true},
		{"the slow spell out of the window", 12 * time.Second, 12000, 10 * 1000, false},
		{"at the end", 30*time.Second + 500*time.Millisecond, 30000, 10 * 1000, false},
		{"quiet for a window", 41 * time.Second, 30000, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			run, recent := replay(tt.at).summaries(pinned.Add(tt.at))
			// Past the slow spell its 1,000 trades are more than 1% of the
			// whole run until second 100.
			if run.N != tt.runN || run.Max != 2*time.Second || run.P99 < time.Second {
				t.Errorf("whole run = %+v, want %d trades with the slow spell's p99 and max", run, tt.runN)
			}
			if recent.N != tt.recentN {
				t.Errorf("recent N = %d, want %d", recent.N, tt.recentN)
			}
			switch {
			case tt.recentN == 0 && !reflect.DeepEqual(recent, state.Latency{}):
				t.Errorf("recent = %+v with no trades in the window, want zero", recent)
			case tt.recentN > 0 && tt.slowP99 != (recent.P99 >= time.Second):
				t.Errorf("recent p99 = %v; slow spell in it: %v", recent.P99, tt.slowP99)
			}
		})
	}
}

// The ring folds each slot into the whole run before reusing it: the whole
// run's figures must be those of one histogram of everything, and the
// recent ones those of one histogram of the last ten seconds.
func TestLatenciesAddUpToOneHistogram(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var (
		l      latencies
		all    histogram
		at     = pinned
		newest int64 // the latest second so far
		log    []struct {
			sec int64
			ds  []time.Duration
		}
	)
	for range 400 {
		// Steps of up to 3s, some of them back: the clock is not monotonic.
		at = at.Add(time.Duration(r.Int64N(int64(3500*time.Millisecond))) - 500*time.Millisecond)
		ds := make([]time.Duration, r.IntN(50))
		for i := range ds {
			ds[i] = time.Duration(r.ExpFloat64() * float64(30*time.Millisecond))
		}
		l.record(at, ds)
		all.recordAll(ds)
		// A trade stored while the clock is behind counts in the latest
		// second so far.
		newest = max(newest, at.Unix())
		log = append(log, struct {
			sec int64
			ds  []time.Duration
		}{newest, ds})
	}
	run, recent := l.summaries(at)
	want := all.summary()
	want.Buckets = all.buckets()
	if !sameLatency(run, want) {
		t.Errorf("whole run = %+v, want %+v", run, want)
	}
	var last histogram
	for _, e := range log {
		if e.sec > newest-recentSlots {
			last.recordAll(e.ds)
		}
	}
	if want := last.summary(); !sameLatency(recent, want) || want.N == 0 {
		t.Errorf("recent = %+v, want %+v", recent, want)
	}
}

// A wall clock stepped back does not push recent trades out of the window.
func TestRecentLatencyWithAClockSteppedBack(t *testing.T) {
	var l latencies
	for _, s := range []time.Duration{15, 20, 5} {
		l.record(pinned.Add(s*time.Second), latenciesAt(time.Millisecond, 1))
	}
	if run, recent := l.summaries(pinned.Add(20 * time.Second)); run.N != 3 || recent.N != 3 {
		t.Errorf("%d trades in the whole run and %d recent, want 3 and 3", run.N, recent.N)
	}
}

// BenchmarkRecordLatencies records what the store writer does at 150,000
// trades a second: writes of 5,000 trades, 30 a second, so the ring moves
// on to a new slot every 30 writes.
func BenchmarkRecordLatencies(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	ds := make([]time.Duration, 5000)
	for i := range ds {
		ds[i] = time.Duration(r.ExpFloat64() * float64(50*time.Millisecond))
	}
	var l latencies
	at := pinned
	b.ReportAllocs()
	b.SetBytes(int64(len(ds)) * 8)
	for b.Loop() {
		l.record(at, ds)
		at = at.Add(time.Second / 30)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ds)), "ns/trade")
}

// BenchmarkLatencySummaries is what each snapshot costs, holding the lock
// the store writer records under: the whole run and the recent window from
// a full ring.
func BenchmarkLatencySummaries(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	var l latencies
	at := pinned
	for range 3 * recentSlots {
		ds := make([]time.Duration, 1000)
		for i := range ds {
			ds[i] = time.Duration(r.ExpFloat64() * float64(50*time.Millisecond))
		}
		l.record(at, ds)
		at = at.Add(slotWidth)
	}
	b.ReportAllocs()
	for b.Loop() {
		l.summaries(at)
	}
}

// sameLatency compares two summaries; their sums may differ in the last
// bits, added in another order.
func sameLatency(a, b state.Latency) bool {
	return a.P50 == b.P50 && a.P99 == b.P99 && a.Max == b.Max && a.N == b.N &&
		math.Abs(a.Sum-b.Sum) <= 1e-9*math.Max(a.Sum, b.Sum) && slices.Equal(a.Buckets, b.Buckets)
}
