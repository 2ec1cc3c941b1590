package sshui

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/state"
	"github.com/tradetop/tradetop/trade"
)

// fakeSource is a tui.Source with one fixed snapshot of a pipeline a minute
// into its run, told apart only by whether the feed is paused. It counts
// the controls asked of it.
type fakeSource struct {
	running, paused *state.Snapshot

	mu      sync.Mutex
	pauses  int
	resumes int
	subs    int
	held    bool
}

func newFakeSource() *fakeSource {
	s := snapshot()
	p := *s
	p.Paused = true
	return &fakeSource{running: s, paused: &p}
}

func (f *fakeSource) Snapshot() *state.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held {
		return f.paused
	}
	return f.running
}

func (f *fakeSource) Pause() {
	f.mu.Lock()
	f.pauses++
	f.held = true
	f.mu.Unlock()
}

func (f *fakeSource) Resume() {
	f.mu.Lock()
	f.resumes++
	f.held = false
	f.mu.Unlock()
}

// controls is how many times each control was asked for.
func (f *fakeSource) controls() (pauses, resumes, subs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pauses, f.resumes, f.subs
}

func (f *fakeSource) RecentCandles(context.Context, string, time.Duration, int) ([]agg.Candle, error) {
	return nil, nil
}

func (f *fakeSource) Subscribe(string) error {
	f.mu.Lock()
	f.subs++
	f.mu.Unlock()
	return nil
}

func (f *fakeSource) Unsubscribe(string) error {
	f.mu.Lock()
	f.subs++
	f.mu.Unlock()
	return nil
}

// t0 is when the fabricated run started.
var t0 = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

// snapshot fabricates a pipeline a minute into a run over six symbols in
// three sectors, six partitions, a tape and two events.
func snapshot() *state.Snapshot {
	now := t0.Add(time.Minute)
	s := &state.Snapshot{
		Time: now, Started: t0,
		Source: "synthetic seed=1", Broker: "embedded 127.0.0.1:9092", Store: "sqlite /data/tradetop.db",
		Topic: "trades", Group: "tradetop",
		Intervals:       []time.Duration{time.Second, time.Minute},
		AllowedLateness: 2 * time.Second,
		MaxInFlight:     50000,
		InRate:          1000, StoredRate: 998,
		Latency:       state.Latency{P50: 14 * time.Millisecond, P99: 90 * time.Millisecond, Max: 140 * time.Millisecond, N: 60000},
		RecentLatency: state.Latency{P50: 12 * time.Millisecond, P99: 48 * time.Millisecond, Max: 90 * time.Millisecond, N: 10000},
		Subscribable:  true,
		LagTime:       now.Add(-400 * time.Millisecond),
		Positions:     map[int]int64{},
	}
	symbols := []struct {
		sym, sector string
		open, last  float64
		count       int64
	}{
		{"AAPL", "Information Technology", 189.20, 190.05, 12000},
		{"MSFT", "Information Technology", 411.00, 409.80, 11000},
		{"NVDA", "Information Technology", 880.10, 884.75, 14000},
		{"JPM", "Financials", 196.40, 196.90, 9000},
		{"GS", "Financials", 452.30, 451.10, 7000},
		{"XOM", "Energy", 112.60, 113.20, 7000},
	}
	sectors := map[string]*agg.SectorDay{}
	var order []string
	for i, x := range symbols {
		vol := float64(x.count) * 100
		s.Symbols = append(s.Symbols, agg.SymbolStats{
			Symbol: x.sym, Sector: x.sector, First: x.open, Last: x.last,
			High: max(x.open, x.last) * 1.004, Low: min(x.open, x.last) * 0.996,
			Volume: vol, Notional: vol * x.last, Count: x.count, LastTime: now.Add(-40 * time.Millisecond),
		})
		d := sectors[x.sector]
		if d == nil {
			d = &agg.SectorDay{Sector: x.sector, Day: t0.Truncate(24 * time.Hour)}
			sectors[x.sector] = d
			order = append(order, x.sector)
		}
		d.Volume += vol
		d.Notional += vol * x.last
		d.Count += x.count
		s.Produced += x.count
		s.Tape = append(s.Tape, trade.Trade{ID: "t" + x.sym, Symbol: x.sym, Price: x.last, Volume: 100, Time: now.Add(-time.Duration(i) * 13 * time.Millisecond)})
	}
	for _, name := range order {
		s.Sectors = append(s.Sectors, *sectors[name])
	}
	s.Consumed, s.StoredTrades = s.Produced-12, s.Produced-15
	s.Candles, s.SectorRows = 360, 3
	for p := range 6 {
		end := int64(10000 + 100*p)
		s.Lag = append(s.Lag, state.PartitionLag{Partition: p, End: end, Committed: end - 40, Lag: 40})
		s.TotalLag += 40
		s.Positions[p] = end - 2
		s.Unread += 2
	}
	s.Events = []state.Event{
		{Time: t0.Add(12 * time.Second), Level: slog.LevelWarn, Source: "kafka", Message: "rebalance in progress"},
		{Time: t0.Add(26 * time.Second), Level: slog.LevelInfo, Source: "store", Message: "store is back after 4.1s and 3 retries"},
	}
	return s
}
