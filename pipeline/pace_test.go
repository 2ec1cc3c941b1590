package pipeline

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/sqlite"
	"github.com/tradetop/tradetop/store/storetest"
)

// TestPaceFitsTheRate: the beat is the longest of min, 2×min, 4×min... (and
// at most max) in which the rate fills at most partitionBeatTrades for each
// partition.
func TestPaceFitsTheRate(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		min, max   time.Duration
		partitions int64
		rate       float64
		want       time.Duration
	}{
		{50 * ms, time.Second, 2, 1000, 50 * ms}, // 100 ms would hold 100, over 80
		{50 * ms, time.Second, 2, 100000, 50 * ms},
		{50 * ms, time.Second, 2, 801, 50 * ms},
		{50 * ms, time.Second, 2, 800, 100 * ms},
		{50 * ms, time.Second, 2, 500, 100 * ms},
		{50 * ms, time.Second, 2, 120, 400 * ms},
		{50 * ms, time.Second, 2, 10, time.Second}, // 800 ms, then the budget itself
		{50 * ms, time.Second, 2, 0, time.Second},
		{50 * ms, time.Second, 6, 1000, 200 * ms}, // 200 trades over 6 partitions
		{50 * ms, time.Second, 6, 5000, 50 * ms},
		{50 * ms, time.Second, 1, 1000, 50 * ms},
		{50 * ms, time.Second, 1, 400, 100 * ms},
		{50 * ms, time.Second, 0, 400, 100 * ms}, // not known yet: one
		{50 * ms, 700 * ms, 2, 0, 700 * ms},
		{50 * ms, 50 * ms, 2, 0, 50 * ms}, // a fixed beat
		{50 * ms, 20 * ms, 2, 0, 50 * ms}, // a budget under the beat keeps it
		{250 * ms, time.Second, 2, 200, 250 * ms},
	} {
		var prod, read atomic.Int64
		pc := newPace(tt.min, tt.max, &prod, &read, func() int64 { return tt.partitions })
		if got := pc.fit(tt.rate); got != tt.want {
			t.Errorf("min %v max %v, %d partitions at %v/s: beat %v, want %v", tt.min, tt.max, tt.partitions, tt.rate, got, tt.want)
		}
	}
}

// TestPaceFollowsTheLoad: the beat lengthens only after a whole window of a
// low rate, and shortens as soon as one beat shows a burst.
func TestPaceFollowsTheLoad(t *testing.T) {
	var prod, read atomic.Int64
	pc := newPace(50*time.Millisecond, time.Second, &prod, &read, func() int64 { return 2 })
	t0 := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	at := func(d time.Duration) time.Duration { return pc.every(t0.Add(d)) }
	if got := at(0); got != 50*time.Millisecond {
		t.Fatalf("first beat %v, want the shortest", got)
	}
	prod.Add(5)
	read.Add(5)
	if got := at(500 * time.Millisecond); got != 50*time.Millisecond {
		t.Errorf("half a window in: beat %v, want it unchanged until the window is over", got)
	}
	prod.Add(5)
	read.Add(5)
	if got := at(time.Second); got != time.Second {
		t.Errorf("after a second at 10/s: beat %v, want the budget, 1s", got)
	}
	// A burst: the reads (counted when a partition hands a batch over)
	// show it one beat later.
	read.Add(2000)
	if got := at(1500 * time.Millisecond); got != time.Second {
		t.Errorf("half a beat into the burst: beat %v, want 1s until a beat has passed", got)
	}
	if got := at(2 * time.Second); got != 50*time.Millisecond {
		t.Errorf("a beat into a burst of 2000/s: beat %v, want the shortest", got)
	}
	if got := pc.current(); got != 50*time.Millisecond {
		t.Errorf("current %v, want what every said", got)
	}
	// A clock that steps back starts a new window.
	if got := at(0); got != 50*time.Millisecond {
		t.Errorf("after the clock stepped back: beat %v, want it kept", got)
	}
	// 300/s for a second: 60 trades a 200 ms beat on 2 partitions.
	prod.Add(300)
	if got := at(time.Second); got != 200*time.Millisecond {
		t.Fatalf("after a second at 300/s: beat %v, want 200ms", got)
	}
	// A beat at 450/s holds 90, over the 80 of 2 partitions but no burst:
	// the window decides.
	prod.Add(90)
	if got := at(1200 * time.Millisecond); got != 200*time.Millisecond {
		t.Errorf("a beat at 450/s: beat %v, want 200ms until the window is over", got)
	}
	// One at 1,000/s more than doubles it: at once.
	prod.Add(400)
	if got := at(1400 * time.Millisecond); got != 50*time.Millisecond {
		t.Errorf("a beat at 1,000/s more: beat %v, want the shortest at once", got)
	}
}

// countingStore counts the store writes that carried trades.
type countingStore struct {
	store.Store
	writes atomic.Int64
}

func (c *countingStore) Write(ctx context.Context, b *store.Batch) error {
	if len(b.Trades) > 0 {
		c.writes.Add(1)
	}
	return c.Store.Write(ctx, b)
}

// TestQuietFeedGoesInBatches runs a paced feed at 40 trades/s for 4 s on a
// 10 ms beat: with a fixed beat nearly every trade is a store write of its
// own; with a latency budget of 400 ms the beat stretches after the first
// second, and the trades of each 400 ms go in one write. Both store every
// trade once.
func TestQuietFeedGoesInBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("paced: takes seconds")
	}
	const n = 160
	run := func(budget time.Duration) int64 {
		src, err := feed.NewSynthetic(feed.SyntheticConfig{Seed: 3, Rate: 40, Count: n})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "tradetop.db")
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		st := &countingStore{Store: db}
		p, err := New(Config{Source: src, Store: st, Sector: feed.DefaultUniverse().Sector,
			BatchInterval: 10 * time.Millisecond, MaxBatchInterval: budget})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sum, err := p.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		got := storetest.ReadSQLite(t, path)
		if len(got.Trades) != n || got.Rows != n || sum.Produced != n {
			t.Errorf("budget %v: %d produced, %d trades in %d rows stored; want %d each", budget, sum.Produced, len(got.Trades), got.Rows, n)
		}
		return st.writes.Load()
	}
	fixed, stretched := run(0), run(400*time.Millisecond)
	t.Logf("store writes of %d trades at 40/s: fixed 10ms beat %d, 400ms budget %d", n, fixed, stretched)
	if fixed < n*3/4 {
		t.Errorf("a fixed 10 ms beat made %d store writes of %d trades at 40/s; want about one a trade", fixed, n)
	}
	// 40 in the first second, then one every 400 ms: about 48.
	if stretched > n/2 {
		t.Errorf("a 400 ms budget made %d store writes of %d trades at 40/s; want one a beat once it stretched (%d or fewer)", stretched, n, n/2)
	}
}

// TestLagReadsSlowDownWhenNothingMoves: the lag is read every LagInterval
// while trades move or lag is left, and every quietLagEvery once nothing
// moved since a read that found none, or once a quiet feed stretched the
// beat to the lag interval.
func TestLagReadsSlowDownWhenNothingMoves(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	beat := 50 * time.Millisecond
	c := readCadence{lagEvery: time.Second, beat: beat}
	busy := [3]int64{100, 90, 80}
	c.lagRead(t0, busy, 20)
	if !c.lagDue(t0.Add(time.Second), [3]int64{200, 190, 180}, beat) {
		t.Error("a second after a read that found lag, with trades moving: not due, want a read")
	}
	idle := [3]int64{200, 200, 200}
	c.lagRead(t0.Add(time.Second), idle, 0)
	if c.lagDue(t0.Add(2*time.Second), idle, beat) {
		t.Error("a second after a read that found no lag, nothing moved: due, want the next at 2 s")
	}
	if !c.lagDue(t0.Add(3*time.Second), idle, beat) {
		t.Error("two seconds after the last read: not due, want a read")
	}
	if !c.lagDue(t0.Add(2*time.Second), [3]int64{201, 200, 200}, beat) {
		t.Error("a trade produced since a read that found no lag: not due, want a read")
	}
	c.lagRead(t0.Add(3*time.Second), idle, 3)
	if !c.lagDue(t0.Add(4*time.Second), idle, beat) {
		t.Error("lag left at the last read: not due, want a read")
	}
	// A stretched beat: offsets move once a beat.
	if c.lagDue(t0.Add(4*time.Second), [3]int64{210, 210, 210}, time.Second) {
		t.Error("a second after the last read on a stretched 1 s beat: due, want the next at 2 s")
	}
	if !c.lagDue(t0.Add(5*time.Second), [3]int64{220, 220, 220}, time.Second) {
		t.Error("two seconds after the last read on a stretched beat: not due, want a read")
	}
	// A beat fixed at a second (--beat 1s) is not a quiet feed.
	fixed := readCadence{lagEvery: time.Second, beat: time.Second}
	fixed.lagRead(t0, busy, 0)
	if !fixed.lagDue(t0.Add(time.Second), [3]int64{110, 100, 90}, time.Second) {
		t.Error("a fixed 1 s beat with trades moving: not due, want a read every second")
	}
}

// TestStableGroupReadsSlowDown: a member of a stable group reads it every
// stableGroupEvery until its generation changes; others, and unstable
// groups, every time.
func TestStableGroupReadsSlowDown(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	c := readCadence{lagEvery: time.Second}
	gen := &bus.Generation{ID: 1}
	if !c.groupDue(t0, gen) {
		t.Fatal("never read: not due")
	}
	c.groupRead(t0, gen, "Stable")
	if c.groupDue(t0.Add(time.Second), gen) {
		t.Error("a second after the group was stable, same generation: due, want the next at 5 s")
	}
	if !c.groupDue(t0.Add(5*time.Second), gen) {
		t.Error("5 s after: not due")
	}
	if !c.groupDue(t0.Add(time.Second), &bus.Generation{ID: 2}) {
		t.Error("a new generation: not due")
	}
	if !c.groupDue(t0.Add(time.Second), nil) {
		t.Error("not a member (an ingest): not due, want every read")
	}
	c.groupRead(t0, gen, "PreparingRebalance")
	if !c.groupDue(t0.Add(time.Second), gen) {
		t.Error("rebalancing: not due")
	}
	c.groupRead(t0, gen, "")
	if !c.groupDue(t0.Add(time.Second), gen) {
		t.Error("after a failed read: not due")
	}
}

// TestPacedPartitions: a process that produces spreads its trades over
// the topic; a processor reads those of the partitions it was given.
func TestPacedPartitions(t *testing.T) {
	for _, tt := range []struct {
		role Role
		gen  *bus.Generation
		want int64
	}{
		{RoleAll, nil, 6},
		{RoleAll, &bus.Generation{Partitions: []int{0, 1}}, 6},
		{RoleIngest, nil, 6},
		{RoleProcess, nil, 6},
		{RoleProcess, &bus.Generation{}, 6},
		{RoleProcess, &bus.Generation{Partitions: []int{0, 4}}, 2},
	} {
		p := &Pipeline{cfg: Config{Role: tt.role}}
		p.topicParts.Store(6)
		p.member.Store(tt.gen)
		if got := p.pacedPartitions(); got != tt.want {
			t.Errorf("role %v, generation %+v: %d partitions, want %d", tt.role, tt.gen, got, tt.want)
		}
	}
}
