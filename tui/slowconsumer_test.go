package tui

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/state"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/sqlite"
	"github.com/tradetop/tradetop/store/storetest"
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

// recordingSource runs another source and records every trade the
// pipeline took from it: those for which emit returned nil. They are the
// run's input, known to the test rather than reported by the pipeline.
// Run is called from the pipeline's feed goroutine; trades may be called
// from any goroutine.
type recordingSource struct {
	feed.Source
	mu      sync.Mutex
	emitted []trade.Trade
}

func (r *recordingSource) Run(ctx context.Context, emit func(trade.Trade) error) error {
	return r.Source.Run(ctx, func(t trade.Trade) error {
		if err := emit(t); err != nil {
			return err
		}
		r.mu.Lock()
		r.emitted = append(r.emitted, t)
		r.mu.Unlock()
		return nil
	})
}

// Unwrap lets the pipeline find the synthetic source's Pacer.
func (r *recordingSource) Unwrap() feed.Source { return r.Source }

// trades returns the trades taken so far, in the order emitted.
func (r *recordingSource) trades() []trade.Trade {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.emitted)
}

// TestSlowConsumer runs a pipeline, embedded broker and store, whose store
// is throttled below the feed's rate, and feeds its snapshots to the UI
// model: while throttled the unread lag grows, the lag pane judges every
// partition WARN and the header says the processing stage is slow (and no
// partition STALL or STOP, no stage down: the store is slow, not stuck);
// once the throttle lifts, the backlog is read and the verdicts are OK
// again. The drain then leaves the store exactly as the input says: every
// trade the feed emitted stored once, and every candle and sector window,
// field by field, as a reference computed from those trades.
func TestSlowConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a pipeline for about half a minute")
	}
	const (
		speed      = 3
		partitions = 6
	)
	clock := fastClock{start: time.Now(), speed: speed}
	u := feed.DefaultUniverse()
	start := time.Date(2026, 3, 4, 14, 30, 0, 0, time.UTC)
	syn, err := feed.NewSynthetic(feed.SyntheticConfig{Universe: u, Seed: 5, Start: start, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	src := &recordingSource{Source: syn}
	path := filepath.Join(t.TempDir(), "tradetop.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := &throttledStore{Store: db}
	// One-second windows and no lateness: commits follow the event time
	// closely, and the lag window is its least, 30 seconds. The reference
	// the store is checked against uses the same windows.
	windows := agg.Config{Intervals: []time.Duration{time.Second}, SectorInterval: time.Second, AllowedLateness: new(time.Duration(0))}
	p, err := pipeline.New(pipeline.Config{
		Source: src, Store: st, StoreName: "throttled sqlite", Sector: u.Sector,
		Agg:   windows,
		Kafka: bus.Config{CommitInterval: 50 * time.Millisecond, Partitions: partitions},
		// The clock is fast, the store's writes are not: small batches
		// and a short queue keep each throttled write short (the writer
		// merges what is queued, 3 batches at most: 300 trades, 0.45s of
		// wall time, 1.35s of the clock's), so trades are stored and read
		// well within the health's stall time (5s of the clock's) and
		// commits keep coming within the lag window, as from a store that
		// is slow, not stuck.
		BatchTrades:      100,
		StoreQueue:       2,
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
	var last *state.Snapshot
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
			n[r.Verdict]++
		}
		return n
	}
	all := func(v monitor.Verdict) bool { return len(m.lag.rows) == partitions && verdicts()[v] == partitions }
	stage := func(name string) monitor.Health {
		for i, s := range monitor.StageNames {
			if s == name {
				return m.report.Stages[i]
			}
		}
		t.Fatalf("no stage %q", name)
		return 0
	}

	// Healthy first: every partition committing, judged over a whole window.
	if !until(2*time.Minute, func() bool {
		return all(monitor.OK) && m.report.Window == 30*time.Second && judged(m.lag.rows)
	}) {
		t.Fatalf("not healthy after two minutes: verdicts %v, unread %d\n%s", verdicts(), m.lag.unread, m.lag.View(false))
	}
	healthyUnread := m.lag.unread

	// The store takes about 650 trades a second, the feed brings 1,000:
	// every partition falls behind, in proportion to its share.
	st.throttle(1500 * time.Microsecond)
	throttled := p.Snapshot()
	var (
		peakUnread int64
		sawSlow    bool                // the processing stage judged slow
		down       = map[string]bool{} // the stages ever judged down
		stuck      [4]int              // the most partitions seen STALL and STOP at once
	)
	grew := until(2*time.Minute, func() bool {
		peakUnread = max(peakUnread, m.lag.unread)
		sawSlow = sawSlow || stage("agg") == monitor.Slow
		for i, h := range m.report.Stages {
			if h == monitor.Down {
				down[monitor.StageNames[i]] = true
			}
		}
		n := verdicts()
		stuck[monitor.Stall] = max(stuck[monitor.Stall], n[monitor.Stall])
		stuck[monitor.Stop] = max(stuck[monitor.Stop], n[monitor.Stop])
		return all(monitor.Warn) && sawSlow && m.lag.unread > healthyUnread+1000
	})
	warnView := m.lag.View(false)
	t.Logf("throttled: verdicts %v (OK WARN STALL STOP), stages %v, unread %d\n%s", verdicts(), m.report.Stages, m.lag.unread, warnView)
	if !grew {
		t.Fatalf("throttled for two minutes: verdicts %v, want all %d WARN; processing stage %v (slow seen: %v), unread %d (healthy %d)",
			verdicts(), partitions, stage("agg"), sawSlow, m.lag.unread, healthyUnread)
	}
	if len(down) > 0 {
		t.Errorf("while throttled, stages %v were judged down; the store is slow, not stuck: want the processing stage slow", slices.Sorted(maps.Keys(down)))
	}
	if stuck[monitor.Stall]+stuck[monitor.Stop] > 0 {
		t.Errorf("while throttled, up to %d partitions were judged STALL and %d STOP; a slow consumer is reading and committing, only behind",
			stuck[monitor.Stall], stuck[monitor.Stop])
	}
	if n := strings.Count(warnView, "  WARN"); n != partitions {
		t.Errorf("the lag pane shows %d partitions WARN, want %d:\n%s", n, partitions, warnView)
	}
	if s := p.Snapshot(); s.StoredTrades <= throttled.StoredTrades {
		t.Errorf("nothing stored while throttled (%d then %d): the store was to be slow, not stopped", throttled.StoredTrades, s.StoredTrades)
	}

	// Lift the throttle: the backlog is read and the verdicts recover.
	st.throttle(0)
	caughtUp := until(2*time.Minute, func() bool {
		peakUnread = max(peakUnread, m.lag.unread)
		return m.lag.unread < 1000 && all(monitor.OK) && stage("agg") == monitor.Healthy && stage("store") == monitor.Healthy
	})
	t.Logf("recovered: verdicts %v, stages %v, unread %d\n%s", verdicts(), m.report.Stages, m.lag.unread, m.lag.View(false))
	if !caughtUp {
		t.Fatalf("two minutes after the throttle lifted: verdicts %v, stages %v, unread %d", verdicts(), m.report.Stages, m.lag.unread)
	}

	// Drain: the store holds exactly what the input makes, read with SQL.
	stop()
	wg.Wait()
	if rerr != nil {
		t.Fatalf("run: %v (summary %+v)", rerr, sum)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	input := src.trades()
	t.Logf("input %d trades; peak unread %d; summary produced=%d stored=%d late=%d errors=%d",
		len(input), peakUnread, sum.Produced, sum.StoredTrades, sum.Late, sum.Errors)
	want := storetest.Reference(input, storetest.Windows{Intervals: windows.Intervals, Sector: windows.SectorInterval, SectorOf: u.Sector})
	storetest.Check(t, "slow consumer", storetest.ReadSQLite(t, path), want)
}

// judged reports whether every partition has been committing for a whole
// window, so that its verdict weighs growth.
func judged(rows []monitor.Partition) bool {
	for _, r := range rows {
		if !r.Judged {
			return false
		}
	}
	return len(rows) > 0
}
