package tui

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/sqlite"
	"github.com/tradetop/tradetop/trade"
)

// throttledStore is a store that the test can slow down: while throttled,
// each write first sleeps the throttle's delay for every trade it holds,
// so the store takes at most one trade per delay.
type throttledStore struct {
	store.Store
	perTrade atomic.Int64 // nanoseconds; 0: not throttled
}

func (s *throttledStore) throttle(perTrade time.Duration) { s.perTrade.Store(int64(perTrade)) }

func (s *throttledStore) Write(ctx context.Context, b *store.Batch) error {
	if d := time.Duration(s.perTrade.Load()) * time.Duration(len(b.Trades)); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return s.Store.Write(ctx, b)
}

// fastClock runs speed times faster than the wall clock from its start.
// The pipeline's snapshots, lag reads and events take their times from
// it, so the lag tracker's window (30 seconds at the least) passes in ten;
// the pipeline's own intervals are shortened by the same factor, so in the
// clock's time it behaves as with its defaults.
type fastClock struct {
	start time.Time
	speed time.Duration
}

func (c fastClock) now() time.Time { return c.start.Add(c.speed * time.Since(c.start)) }

// TestSlowConsumer runs a pipeline, embedded broker and store, whose store
// is throttled below the feed's rate, and feeds its snapshots to the UI
// model: while throttled the unread lag grows and the lag pane judges the
// partitions WARN, the header says the processing stage is slow; once the
// throttle lifts, the backlog is read, the verdicts are OK again, and the
// drain stores every trade the feed produced.
func TestSlowConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a pipeline for about half a minute")
	}
	const speed = 3
	clock := fastClock{start: time.Now(), speed: speed}
	u := feed.DefaultUniverse()
	start := time.Date(2026, 3, 4, 14, 30, 0, 0, time.UTC)
	src, err := feed.NewSynthetic(feed.SyntheticConfig{Universe: u, Seed: 5, Start: start, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := &throttledStore{Store: db}
	p, err := pipeline.New(pipeline.Config{
		Source: src, Store: st, StoreName: "throttled sqlite", Sector: u.Sector,
		// One-second windows and no lateness: commits follow the event
		// time closely, and the lag window is its least, 30 seconds.
		Agg:   agg.Config{Intervals: []time.Duration{time.Second}, SectorInterval: time.Second, AllowedLateness: agg.NoLateness},
		Kafka: bus.Config{CommitInterval: 50 * time.Millisecond},
		// The clock is fast, the store's writes are not: small batches
		// keep each throttled write short (the writer merges what is
		// queued, 16 batches at most: 1,600 trades, 2.4s throttled), so
		// commits keep coming within the lag window (10s of wall time), as
		// from a store that is slow, not stuck.
		BatchTrades:      100,
		SnapshotInterval: 250 * time.Millisecond / speed,
		LagInterval:      time.Second / speed,
		MaxInFlight:      1 << 30, // the feed must not slow down with the store
		DrainTimeout:     2 * time.Minute,
		Now:              clock.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var (
		wg   sync.WaitGroup
		sum  pipeline.Summary
		rerr error
	)
	wg.Go(func() { sum, rerr = p.Run(ctx) })
	defer func() {
		st.throttle(0)
		stop()
		wg.Wait()
	}()

	m := New(p, Options{Styles: asciiStyles()})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 140, Height: 50})
	// until feeds the model every new snapshot until cond holds or the
	// limit (in wall time, generous) passes, and reports whether it held.
	var last *pipeline.Snapshot
	until := func(limit time.Duration, cond func() bool) bool {
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			if s := p.Snapshot(); s != nil && s != last {
				last = s
				m, _ = step(t, m, snapshotMsg{s})
				if cond() {
					return true
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	}
	verdicts := func() [4]int {
		var n [4]int
		for _, r := range m.lag.rows {
			n[r.verdict]++
		}
		return n
	}
	allOK := func() bool { n := verdicts(); return len(m.lag.rows) > 0 && n[verdictOK] == len(m.lag.rows) }
	stage := func(name string) health {
		for i, s := range stageNames {
			if s == name {
				return m.health.stages[i]
			}
		}
		t.Fatalf("no stage %q", name)
		return 0
	}

	// Healthy first: every partition committing, judged over a whole window.
	if !until(2*time.Minute, func() bool {
		return allOK() && len(m.lag.rows) == 6 && m.lags.window == 30*time.Second && judged(m.lags)
	}) {
		t.Fatalf("not healthy after two minutes: verdicts %v, unread %d\n%s", verdicts(), m.lag.unread, m.lag.View(false))
	}
	healthyUnread := m.lag.unread

	// The store takes about 650 trades a second, the feed brings 1,000.
	st.throttle(1500 * time.Microsecond)
	throttled := p.Snapshot()
	var peakUnread int64
	var sawSlow health
	grew := until(2*time.Minute, func() bool {
		peakUnread = max(peakUnread, m.lag.unread)
		if h := stage("agg"); h == healthSlow || h == healthDown {
			sawSlow = h
		}
		return verdicts()[verdictWarn] > 0 && sawSlow != healthOK && m.lag.unread > healthyUnread+1000
	})
	warnView := m.lag.View(false)
	t.Logf("throttled: verdicts %v (OK WARN STALL STOP), stages %v, unread %d\n%s", verdicts(), m.health.stages, m.lag.unread, warnView)
	if !grew {
		t.Fatalf("throttled for two minutes: verdicts %v, processing stage %v, unread %d (healthy %d)", verdicts(), stage("agg"), m.lag.unread, healthyUnread)
	}
	if n := verdicts(); n[verdictStall]+n[verdictStop] > 0 {
		t.Errorf("a slow consumer is judged STALL or STOP: %v; it is reading and committing, only behind", n)
	}
	if !strings.Contains(warnView, "WARN") {
		t.Errorf("the lag pane does not show WARN:\n%s", warnView)
	}
	if s := p.Snapshot(); s.StoredTrades <= throttled.StoredTrades {
		t.Errorf("nothing stored while throttled (%d then %d): the store was to be slow, not stopped", throttled.StoredTrades, s.StoredTrades)
	}

	// Lift the throttle: the backlog is read and the verdicts recover.
	st.throttle(0)
	caughtUp := until(2*time.Minute, func() bool {
		peakUnread = max(peakUnread, m.lag.unread)
		return m.lag.unread < 1000 && allOK() && stage("agg") == healthOK && stage("store") == healthOK
	})
	t.Logf("recovered: verdicts %v, stages %v, unread %d\n%s", verdicts(), m.health.stages, m.lag.unread, m.lag.View(false))
	if !caughtUp {
		t.Fatalf("two minutes after the throttle lifted: verdicts %v, stages %v, unread %d", verdicts(), m.health.stages, m.lag.unread)
	}

	// Drain: every trade produced is stored, once.
	stop()
	wg.Wait()
	if rerr != nil {
		t.Fatalf("run: %v (summary %+v)", rerr, sum)
	}
	counts, err := db.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := produced(t, u, start, sum.Produced)
	var doubled, lost int64
	for sym, n := range want {
		got, err := db.TradeCount(context.Background(), sym, start)
		if err != nil {
			t.Fatal(err)
		}
		doubled += max(got-n, 0)
		lost += max(n-got, 0)
	}
	t.Logf("figures: fault=%q in=%d stored=%d doubled=%d lost=%d", "slow consumer", sum.Produced, counts.Trades, doubled, lost)
	// The summary's stored count is of rows written, a trade read twice
	// (a producer retry, a rebalance) written twice: the rows tell.
	t.Logf("peak unread=%d; summary produced=%d stored=%d late=%d errors=%d", peakUnread, sum.Produced, sum.StoredTrades, sum.Late, sum.Errors)
	if doubled != 0 || lost != 0 || counts.Trades != sum.Produced {
		t.Errorf("produced %d, %d rows stored: %d doubled, %d lost; want every trade once", sum.Produced, counts.Trades, doubled, lost)
	}
	if sum.Late != 0 {
		t.Errorf("%d trades late; want none: a slow store delays the windows, it does not close them early", sum.Late)
	}
}

// judged reports whether every partition has been committing for a whole
// window, so that its verdict weighs growth (see lagTracker.verdict).
func judged(l *lagTracker) bool {
	for _, id := range l.ids {
		p := l.parts[id]
		if p.committing.IsZero() || p.latest.t.Sub(p.committing) < l.window {
			return false
		}
	}
	return len(l.ids) > 0
}

// produced returns how many of the first n trades of the synthetic feed
// (seed 5 from start) each symbol has: the trades a run that produced n
// must have stored.
func produced(t *testing.T, u *feed.Universe, start time.Time, n int64) map[string]int64 {
	t.Helper()
	src, err := feed.NewSynthetic(feed.SyntheticConfig{Universe: u, Seed: 5, Start: start, Count: n})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	if err := src.Run(context.Background(), func(tr trade.Trade) error {
		out[tr.Symbol]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
