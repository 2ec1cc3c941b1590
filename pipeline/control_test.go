package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/feed/replay"
	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/store/sqlite"
	"github.com/tradetop/tradetop/store/storetest"
	"github.com/tradetop/tradetop/trade"
)

// endless emits trades as fast as it may and counts those emitted.
type endless struct{ emitted atomic.Int64 }

func (*endless) Name() string { return "endless" }

func (e *endless) Run(ctx context.Context, emit func(trade.Trade) error) error {
	for i := 0; ; i++ {
		t := trade.Trade{ID: fmt.Sprint("e-", i), Symbol: "AAPL", Price: 100, Volume: 1, Time: pinned.Add(time.Duration(i) * time.Millisecond)}
		if err := emit(t); err != nil {
			return err
		}
		e.emitted.Add(1)
	}
}

// until polls cond for up to a minute.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 6000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

func TestPauseHoldsTheFeedAndDrains(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := &endless{}
	p, err := New(Config{Source: src, Store: st, SnapshotInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := p.Run(ctx); done <- err }()

	until(t, "trades to flow", func() bool { return src.emitted.Load() > 1000 })
	p.Pause()
	if !p.Paused() {
		t.Fatal("Paused() = false after Pause")
	}
	atPause := src.emitted.Load()
	// Everything produced before the pause reaches the store.
	until(t, "the paused pipeline to drain", func() bool {
		s := p.Snapshot()
		return s != nil && s.Paused && s.Produced > 0 && s.StoredTrades == s.Produced
	})
	// The feed was stopped at the gate: at most the trade already past it.
	if got := src.emitted.Load(); got > atPause+1 {
		t.Fatalf("feed emitted %d trades while paused", got-atPause)
	}
	s := p.Snapshot()
	if len(s.Tape) == 0 || s.Tape[0].ID != fmt.Sprint("e-", s.Produced-1) {
		t.Fatalf("tape does not start with the latest trade: %d trades, first %+v", len(s.Tape), s.Tape)
	}

	p.Resume()
	p.Resume() // a second resume changes nothing
	until(t, "the feed to resume", func() bool { return src.emitted.Load() > atPause+1000 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The summary says the feed was paused once, for as long as it was
	// held: at least the drain awaited above.
	if sum := p.summary(); sum.Pauses != 1 || sum.PausedS <= 0 || sum.PausedS > sum.DurationS {
		t.Fatalf("summary says pauses=%d paused_s=%v of %v s, want one pause within the run", sum.Pauses, sum.PausedS, sum.DurationS)
	}
}

func TestTapeKeepsTheLatestNewestFirst(t *testing.T) {
	var tp tape
	if got := tp.latest(); len(got) != 0 {
		t.Fatalf("empty tape has %d trades", len(got))
	}
	var all []trade.Trade
	for i := range 200 {
		all = append(all, trade.Trade{ID: fmt.Sprint(i)})
	}
	tp.add(all[:3])
	tp.add(all[3:150]) // more than the ring holds in one call
	tp.add(all[150:])
	got := tp.latest()
	if len(got) != tapeLen {
		t.Fatalf("len = %d, want %d", len(got), tapeLen)
	}
	for i, tr := range got {
		if want := fmt.Sprint(199 - i); tr.ID != want {
			t.Fatalf("tape[%d] = %s, want %s", i, tr.ID, want)
		}
	}
}

// downStore fails its first writes, like a store that is down for a while,
// then writes to the store it wraps.
type downStore struct {
	store.Store
	failures atomic.Int64
}

func (d *downStore) Write(ctx context.Context, b *store.Batch) error {
	if d.failures.Add(-1) >= 0 {
		return errors.New("no hosts available")
	}
	return d.Store.Write(ctx, b)
}

// outageWindows are the windows of the outage runs below, given to the
// pipeline and to the reference alike.
var outageWindows = storetest.Windows{
	Intervals: []time.Duration{time.Second, time.Minute},
	Sector:    time.Minute,
	SectorOf:  feed.DefaultUniverse().Sector,
}

// outageAgg is the aggregation of outageWindows.
func outageAgg() agg.Config {
	return agg.Config{Intervals: outageWindows.Intervals, SectorInterval: outageWindows.Sector}
}

// TestStoreOutageIsOneLineAndNothingIsLost fails the first four writes of
// a pinned run: the outage and the recovery are logged once each, and the
// store, read directly, then holds every trade of the input once and
// exactly the candles and sector windows those trades make.
func TestStoreOutageIsOneLineAndNothingIsLost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tradetop.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	down := &downStore{Store: st}
	down.failures.Store(4)
	var logs bytes.Buffer
	const seed, n = 2, 3000
	p, err := New(Config{
		Source: synthetic(t, seed, n), Store: down,
		Sector: outageWindows.SectorOf, Agg: outageAgg(),
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := storetest.ReadSQLite(t, path)
	storetest.Check(t, "store down for four writes", got, storetest.Reference(generated(t, synthetic(t, seed, n)), outageWindows))
	if sum.Errors != 4 {
		t.Errorf("errors = %d, want the 4 failed writes", sum.Errors)
	}
	if s := p.Snapshot(); s.StoreRetries != 4 {
		t.Errorf("store retries = %d, want 4", s.StoreRetries)
	}
	out := logs.String()
	if got := strings.Count(out, "no hosts available"); got != 1 {
		t.Errorf("the outage is logged %d times, want once:\n%s", got, out)
	}
	if got := strings.Count(out, "store is back"); got != 1 {
		t.Errorf("the recovery is logged %d times, want once:\n%s", got, out)
	}
	var back bool
	for _, ev := range p.Snapshot().Events {
		back = back || strings.Contains(ev.Message, "store is back after")
	}
	if !back {
		t.Error("no event says the store is back")
	}
}

// A store outage holds the partitions up; their backlog is not late when
// the store comes back, even with windows closing by the wall clock. The
// store, read directly, must then hold every trade the feed emitted once
// and exactly the candles and sector windows those trades make: a trade
// taken for late would be missing from its windows.
func TestOutageBacklogIsNotLate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about ten seconds")
	}
	path := filepath.Join(t.TempDir(), "tradetop.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	down := &downStore{Store: st}
	// Six failed writes: about six seconds of backoff, past the three
	// seconds after which a partition counts as quiet.
	down.failures.Store(6)
	// A live-clock feed: its trades cannot be made again, so the test
	// keeps what it emits.
	syn, err := feed.NewSynthetic(feed.SyntheticConfig{Seed: 4, Rate: 2000, Count: 16000})
	if err != nil {
		t.Fatal(err)
	}
	src := &teeSource{Source: syn}
	p, err := New(Config{Source: src, Store: down, Sector: outageWindows.SectorOf, Agg: outageAgg(), IdleAdvance: true, StoreQueue: 2})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	input := src.trades()
	if len(input) != 16000 {
		t.Fatalf("the feed emitted %d trades, want its count of 16000", len(input))
	}
	got := storetest.ReadSQLite(t, path)
	storetest.Check(t, "store down for six writes, windows closing by the clock", got, storetest.Reference(input, outageWindows))
	if sum.Late != 0 {
		t.Errorf("late = %d, want none", sum.Late)
	}
}

// teeSource hands on the trades of a source and keeps each one emit
// accepted, in order: the input of a run whose feed cannot be made again.
// Its Run is called once; trades may be called from any goroutine.
type teeSource struct {
	feed.Source
	mu      sync.Mutex
	emitted []trade.Trade
}

func (s *teeSource) Run(ctx context.Context, emit func(trade.Trade) error) error {
	return s.Source.Run(ctx, func(tr trade.Trade) error {
		if err := emit(tr); err != nil {
			return err
		}
		s.mu.Lock()
		s.emitted = append(s.emitted, tr)
		s.mu.Unlock()
		return nil
	})
}

// trades returns the trades emitted so far.
func (s *teeSource) trades() []trade.Trade {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.emitted)
}

// stuckStore never finishes a write: a store that hangs.
type stuckStore struct{ store.Store }

func (stuckStore) Write(ctx context.Context, _ *store.Batch) error {
	<-ctx.Done()
	return ctx.Err()
}

// A feed that ends by itself (a count reached) starts the drain, and the
// drain timeout bounds it like after a stop.
func TestDrainAfterTheFeedEndsIsBounded(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 300
	p, err := New(Config{Source: synthetic(t, 5, n), Store: stuckStore{st}, DrainTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(context.Background())
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("Run = %v, want ErrAborted", err)
	}
	if want := fmt.Sprintf("%d of %d produced trades not stored", n, n); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if sum.Produced != n || sum.StoredTrades != 0 {
		t.Errorf("produced %d, stored %d; want %d, 0", sum.Produced, sum.StoredTrades, n)
	}
}

func TestSetRateChangesTheSourcesPace(t *testing.T) {
	syn, err := feed.NewSynthetic(feed.SyntheticConfig{Rate: 50, Start: pinned})
	if err != nil {
		t.Fatal(err)
	}
	// Through a recording, as --record runs it.
	src := replay.Record(syn, &bytes.Buffer{})
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Unpaced, the feed runs as far ahead of the store as the in-flight
	// bound lets it; a small bound and a long drain keep the stop at the
	// end about the pace, not about how fast a busy machine drains.
	p, err := New(Config{Source: src, Store: st, SnapshotInterval: 10 * time.Millisecond, MaxInFlight: 5000, DrainTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := p.Run(ctx); done <- err }()
	until(t, "a snapshot with the rate", func() bool {
		s := p.Snapshot()
		return s != nil && s.RateAdjustable && s.Rate == 50
	})
	if err := p.SetRate(0); err != nil {
		t.Fatal(err)
	}
	// At 50 trades a second this would take minutes.
	until(t, "the unpaced feed to produce 20000 trades", func() bool {
		s := p.Snapshot()
		return s.Rate == 0 && s.Produced >= 20_000
	})
	if err := p.SetRate(-3); err == nil {
		t.Error("SetRate(-3) accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	fixed, err := New(Config{Source: &endless{}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := fixed.SetRate(10); !errors.Is(err, ErrFixedRate) {
		t.Errorf("SetRate on a source without a pace = %v, want ErrFixedRate", err)
	}
}

// testClock is a clock the test moves; every reading is a nanosecond later
// than the one before, so that trades stamped by it are in order.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time { return time.Unix(0, c.ns.Add(1)).UTC() }

func (c *testClock) add(d time.Duration) { c.ns.Add(int64(d)) }

func TestPauseNeverMakesAHeldTradeLate(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(pinned.UnixNano())
	u := feed.DefaultUniverse()
	// A live-clock feed, as the default synthetic market is: quiet
	// partitions close their windows by the (test's) wall clock.
	src, err := feed.NewSynthetic(feed.SyntheticConfig{Rate: 500, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tradetop.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := New(Config{Source: src, Store: st, Sector: u.Sector, IdleAdvance: true, Now: clock.Now, SnapshotInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		sum Summary
		err error
	}
	done := make(chan result, 1)
	go func() { sum, err := p.Run(ctx); done <- result{sum, err} }()

	until(t, "trades to flow", func() bool { s := p.Snapshot(); return s != nil && s.StoredTrades > 200 })
	p.Pause()
	// The feed now holds the trade it made last, at the gate.
	until(t, "the paused pipeline to drain", func() bool {
		s := p.Snapshot()
		return s.Paused && s.StoredTrades == s.Produced
	})
	// A long pause: every partition is quiet, and the wall clock passes
	// the held trade's windows by far.
	clock.add(time.Minute)
	before := p.Snapshot().Candles
	for range 150 {
		if p.Snapshot().Candles > before {
			break // windows closed by the clock while the trade was held
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Resume()
	atResume := p.Snapshot().Produced
	until(t, "trades after the pause", func() bool { return p.Snapshot().StoredTrades > atResume+100 })
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.sum.Late != 0 {
		t.Errorf("late = %d after a pause, want 0: the trade held at the gate arrived after its windows closed", r.sum.Late)
	}
	got := storetest.ReadSQLite(t, path)
	storetest.Check(t, "pause", got, storetest.OfStoredTrades(got, storetest.Windows{SectorOf: u.Sector}))
}

// listSource emits its trades in order, then ends.
type listSource []trade.Trade

func (listSource) Name() string { return "list" }

func (l listSource) Run(ctx context.Context, emit func(trade.Trade) error) error {
	for _, t := range l {
		if err := emit(t); err != nil {
			return err
		}
	}
	return nil
}

func TestLateAndDuplicateTradesAreWarnedWithAnExample(t *testing.T) {
	var src listSource
	for i := range 11 {
		src = append(src, trade.Trade{ID: fmt.Sprint("t-", i), Symbol: "AAPL", Price: 100, Volume: 1, Time: pinned.Add(time.Duration(i) * time.Second)})
	}
	late := trade.Trade{ID: "late-1", Symbol: "AAPL", Price: 99, Volume: 1, Time: pinned.Add(500 * time.Millisecond)}
	src = append(src, late, src[10])
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var log bytes.Buffer
	p, err := New(Config{Source: src, Store: st, Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Late != 1 || sum.Duplicates != 1 {
		t.Fatalf("summary %+v: want one late trade and one duplicate", sum)
	}
	want := map[string]string{
		"late":      "late-1 at 2026-01-02T15:00:00.500Z, 9.5s behind the newest trade (allowed lateness 2s)",
		"duplicate": "AAPL t-10 at 2026-01-02T15:00:10.000Z",
	}
	for source, example := range want {
		found := false
		for _, ev := range p.Snapshot().Events {
			if ev.Source == source && ev.Level == slog.LevelWarn && strings.Contains(ev.Message, example) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s warning with %q among the events %+v", source, example, p.Snapshot().Events)
		}
		if !strings.Contains(log.String(), "level=WARN msg="+source) {
			t.Errorf("no WARN line for %s in the log:\n%s", source, log.String())
		}
	}
	if s := p.Snapshot(); s.Errors != 0 {
		t.Errorf("%d errors: late and duplicate trades are warnings, not errors", s.Errors)
	}
}
