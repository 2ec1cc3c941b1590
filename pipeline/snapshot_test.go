package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/state"
)

// clock is a hand-moved clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// idle returns a pipeline that is never run, for its snapshot and events.
func idle(t *testing.T, cfg Config) *Pipeline {
	t.Helper()
	cfg.Source, cfg.Store = synthetic(t, 1, 1), &downStore{}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEventsHaveLevelsAndThePipelineClock(t *testing.T) {
	clk := &clock{now: pinned}
	var logs bytes.Buffer
	p := idle(t, Config{Now: clk.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))})

	p.errs.warn("kafka", errors.New("rebalance in progress"))
	clk.advance(time.Second)
	// A warning does not hold back an error from the same source.
	p.errs.note("kafka", errors.New("topic authorization failed"))
	clk.advance(time.Second)
	p.errs.note("kafka", errors.New("held back"))
	p.errs.event("store", "store is back after 3s and 4 retries")
	clk.advance(errorLogEvery)
	p.errs.note("kafka", errors.New("topic authorization failed again"))
	p.publish()

	want := []state.Event{
		{Time: pinned, Level: slog.LevelWarn, Source: "kafka", Message: "rebalance in progress"},
		{Time: pinned.Add(time.Second), Level: slog.LevelError, Source: "kafka", Message: "topic authorization failed"},
		{Time: pinned.Add(2 * time.Second), Level: slog.LevelInfo, Source: "store", Message: "store is back after 3s and 4 retries"},
		{Time: pinned.Add(2*time.Second + errorLogEvery), Level: slog.LevelError, Source: "kafka", Message: "topic authorization failed again", Repeats: 1},
	}
	s := p.Snapshot()
	if len(s.Events) != len(want) {
		t.Fatalf("events:\n%+v\nwant\n%+v", s.Events, want)
	}
	for i, ev := range s.Events {
		if !ev.Time.Equal(want[i].Time) || ev.Level != want[i].Level || ev.Source != want[i].Source ||
			ev.Message != want[i].Message || ev.Repeats != want[i].Repeats {
			t.Errorf("event %d = %+v, want %+v", i, ev, want[i])
		}
	}
	if s.Errors != 3 {
		t.Errorf("errors = %d, want the 3 noted", s.Errors)
	}
	// Each logged event's line has the event's level; the recovery is
	// logged by its caller.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	wantLines := []string{"level=WARN msg=kafka error=\"rebalance in progress\"", "level=ERROR msg=kafka error=\"topic authorization failed\"",
		"level=ERROR msg=kafka error=\"topic authorization failed again\" held_back=1"}
	if len(lines) != len(wantLines) {
		t.Fatalf("log:\n%s\nwant %d lines", logs.String(), len(wantLines))
	}
	for i, l := range lines {
		if !strings.Contains(l, wantLines[i]) {
			t.Errorf("log line %d = %s, want %s", i, l, wantLines[i])
		}
	}
}

func TestSnapshotHasLatenessAndInFlightBound(t *testing.T) {
	for _, tt := range []struct {
		name        string
		cfg         Config
		lateness    time.Duration
		maxInFlight int64
	}{
		{"defaults", Config{}, agg.DefaultAllowedLateness, 50000},
		{"no lateness", Config{Agg: agg.Config{AllowedLateness: new(time.Duration(0))}, MaxInFlight: 20000}, 0, 20000},
		{"set", Config{Agg: agg.Config{AllowedLateness: new(90 * time.Second)}, MaxInFlight: 1}, 90 * time.Second, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := idle(t, tt.cfg)
			p.publish()
			s := p.Snapshot()
			if s.AllowedLateness != tt.lateness || s.MaxInFlight != tt.maxInFlight {
				t.Errorf("lateness %v, in flight %d; want %v and %d", s.AllowedLateness, s.MaxInFlight, tt.lateness, tt.maxInFlight)
			}
			// It is what the partitions' engines use.
			eng, err := agg.New(tt.cfg.Agg, 0)
			if err != nil {
				t.Fatal(err)
			}
			if s.AllowedLateness != eng.AllowedLateness() {
				t.Errorf("lateness %v, the engine's %v", s.AllowedLateness, eng.AllowedLateness())
			}
		})
	}
}

// The snapshot's recent latency forgets a slow spell; the whole run's, and
// the summary's, keep it.
func TestSnapshotSplitsRecentLatencyFromTheRun(t *testing.T) {
	clk := &clock{now: pinned}
	p := idle(t, Config{Now: clk.Now})
	p.lat.record(clk.Now(), latenciesAt(3*time.Second, 100))
	clk.advance(RecentWindow)
	p.lat.record(clk.Now(), latenciesAt(20*time.Millisecond, 900))
	p.publish()
	s := p.Snapshot()
	if s.Latency.N != 1000 || s.Latency.P99 < time.Second {
		t.Errorf("whole run = %+v, want 1000 trades, p99 the slow spell's", s.Latency)
	}
	if s.RecentLatency.N != 900 || s.RecentLatency.P99 > 25*time.Millisecond {
		t.Errorf("recent = %+v, want the 900 fast trades", s.RecentLatency)
	}
	sum := p.summary()
	if sum.LatencyMS.P99 != ms(s.Latency.P99) || sum.LatencyMS.Max != 3000 {
		t.Errorf("summary latency = %+v, want the whole run's %+v", sum.LatencyMS, s.Latency)
	}
}

// Alerts judged outside the pipeline reach its next snapshots: the ones
// firing replace those before, their events join the others as they are,
// neither logged nor counted as errors.
func TestSnapshotCarriesTheAlertsShown(t *testing.T) {
	clk := &clock{now: pinned}
	var logs bytes.Buffer
	p := idle(t, Config{Now: clk.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	p.publish()
	if s := p.Snapshot(); len(s.Alerts) != 0 || len(s.Events) != 0 {
		t.Fatalf("alerts %v, events %v before any were shown", s.Alerts, s.Events)
	}
	fired := state.Event{Time: pinned.Add(-time.Second), Level: slog.LevelWarn, Source: state.AlertSource, Message: "aapl-200: AAPL 201 above 200"}
	firing := []state.Alert{{Rule: "aapl-200", Subject: "AAPL", Symbol: "AAPL", Since: fired.Time, Message: "AAPL 201 above 200"}}
	p.ShowAlerts(firing, []state.Event{fired})
	firing[0].Rule = "changed by the caller afterwards"
	clk.advance(time.Second)
	p.publish()
	s := p.Snapshot()
	if len(s.Alerts) != 1 || s.Alerts[0].Rule != "aapl-200" || s.Alerts[0].Symbol != "AAPL" {
		t.Errorf("alerts %+v, want aapl-200 firing for AAPL", s.Alerts)
	}
	if len(s.Events) != 1 || s.Events[0] != fired {
		t.Errorf("events %+v, want %+v", s.Events, fired)
	}
	if s.Errors != 0 || logs.Len() != 0 {
		t.Errorf("errors %d, log %q: an alert is neither an error nor logged by the pipeline", s.Errors, logs.String())
	}

	rearmed := state.Event{Time: pinned, Level: slog.LevelInfo, Source: state.AlertSource, Message: "aapl-200: AAPL re-armed"}
	p.ShowAlerts(nil, []state.Event{rearmed})
	p.publish()
	if s := p.Snapshot(); len(s.Alerts) != 0 || len(s.Events) != 2 || s.Events[1] != rearmed {
		t.Errorf("alerts %+v, events %+v: want none firing and both events", s.Alerts, s.Events)
	}
}

// TestFinalSnapshotHoldsEveryTrade: the snapshot published after a drain
// counts every trade read in its symbols and sectors, not only those read
// before a worker's last periodic view (an hour apart here, so that the
// drain's own view is the only one after the first).
func TestFinalSnapshotHoldsEveryTrade(t *testing.T) {
	const n = 4000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := tempSQLite(t)
	// Paced, so that the trades come over many beats and the first view
	// holds few of them.
	src, err := feed.NewSynthetic(feed.SyntheticConfig{Seed: 13, Start: pinned, Count: n, Rate: 20000})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Source: src, Store: st, Sector: feed.DefaultUniverse().Sector, SnapshotInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	s := p.Snapshot()
	var sectors, symbols int64
	for _, sd := range s.Sectors {
		sectors += sd.Count
	}
	for _, sym := range s.Symbols {
		symbols += sym.Count
	}
	if sectors != n || symbols != n {
		t.Errorf("the last snapshot counts %d trades in its sectors and %d in its symbols, want %d", sectors, symbols, n)
	}
}
