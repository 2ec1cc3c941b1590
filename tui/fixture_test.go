package tui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/state"
	"github.com/tradetop/tradetop/trade"
)

// t0 is the fake clock's start: every fabricated snapshot is a fixed offset
// from it, so rendered screens are the same on every run.
var t0 = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

// sectorsOf is the fabricated universe's sectors, by symbol index.
var fixtureSectors = []string{"Information Technology", "Financials", "Health Care", "Energy", "Consumer Staples"}

// fixture fabricates a pipeline's snapshots: n symbols whose prices follow
// fixed waves, six partitions whose committed offsets jump once a minute as
// tradetop's do, a tape and a few events.
type fixture struct {
	symbols []string
	base    []float64
	rate    []float64 // trades per second
	step    time.Duration
	paused  bool
	// subscribable makes the snapshots say the source takes subscriptions.
	subscribable bool
	stopRead     bool // the consumer stops reading (for stall verdicts)
	// livePositions makes the read positions move on between lag reads, as
	// the pipeline's do: they are taken at each snapshot, the end offsets
	// only at each read.
	livePositions bool
	// earlier are spans of time before t0 whose candles are stored, as by
	// an earlier run; this run's start at t0.
	earlier []timeSpan
	// pace is the feed's rate in trades per second (0: unpaced) when
	// paced says SetRate changes it.
	pace  float64
	paced bool
	// alerts makes alert rules fire and re-arm, as the pipeline carries
	// them: a store-down re-armed at 30s, lag-high firing for partition 2
	// from 38s and aapl-below-20 for AAPL from 40s.
	alerts bool
}

// timeSpan is [from, to).
type timeSpan struct{ from, to time.Time }

func newFixture(n int) *fixture {
	f := &fixture{step: 250 * time.Millisecond}
	for i := range n {
		f.symbols = append(f.symbols, fmt.Sprintf("S%02d", i))
		f.base = append(f.base, 20+float64((i*37)%400)+float64(i)/7)
		f.rate = append(f.rate, 2+float64((i*13)%17))
	}
	if n >= 4 {
		copy(f.symbols, []string{"AAPL", "MSFT", "NVDA", "JPM"})
	}
	return f
}

func (f *fixture) price(i int, sec float64) float64 {
	b := f.base[i]
	return math.Round(b*(1+0.01*math.Sin(sec/17+float64(i))+0.003*math.Sin(sec/3.1*float64(i%5+1)))*100) / 100
}

const partitions = 6

// snapshot returns the k-th snapshot since t0.
func (f *fixture) snapshot(k int) *state.Snapshot {
	now := t0.Add(time.Duration(k) * f.step)
	sec := now.Sub(t0).Seconds()
	s := &state.Snapshot{
		Time: now, Started: t0,
		Source: "synthetic seed=1", Broker: "embedded 127.0.0.1:9092", Store: "sqlite /data/tradetop.db",
		Topic: "trades", Group: "tradetop",
		Intervals:      []time.Duration{time.Second, time.Minute},
		Paused:         f.paused,
		Subscribable:   f.subscribable,
		Rate:           f.pace,
		RateAdjustable: f.paced,
		// The whole run had a slow spell; the last ten seconds did not.
		Latency:         state.Latency{P50: 14 * time.Millisecond, P99: 2400 * time.Millisecond, Max: 3100 * time.Millisecond, N: 90000},
		RecentLatency:   state.Latency{P50: 12 * time.Millisecond, P99: 48 * time.Millisecond, Max: 90 * time.Millisecond, N: 10000},
		AllowedLateness: 2 * time.Second,
		MaxInFlight:     50000,
	}
	var total float64
	sectors := map[string]*agg.SectorDay{}
	for i, sym := range f.symbols {
		count := int64(f.rate[i] * sec)
		vol := float64(count) * (50 + float64(i%7)*25)
		total += float64(count)
		sector := fixtureSectors[i%len(fixtureSectors)]
		hi, lo := f.base[i]*1.013, f.base[i]*0.987
		st := agg.SymbolStats{
			Symbol: sym, Sector: sector, First: f.price(i, 0), Last: f.price(i, sec),
			High: math.Round(hi*100) / 100, Low: math.Round(lo*100) / 100,
			Volume: vol, Notional: vol * f.base[i], Count: count, LastTime: now.Add(-40 * time.Millisecond),
		}
		if count > 0 {
			s.Symbols = append(s.Symbols, st)
		}
		d := sectors[sector]
		if d == nil {
			d = &agg.SectorDay{Sector: sector, Day: t0.Truncate(24 * time.Hour)}
			sectors[sector] = d
		}
		d.Volume += vol
		d.Notional += vol * f.base[i]
		d.Count += count
	}
	for _, name := range fixtureSectors {
		if d := sectors[name]; d != nil && d.Volume > 0 {
			s.Sectors = append(s.Sectors, *d)
		}
	}
	sortSectors(s.Sectors)
	s.Produced = int64(total)
	s.Consumed = s.Produced - 12
	s.StoredTrades = s.Consumed - 3
	s.InRate, s.StoredRate = 1000, 998
	s.Late, s.Bad, s.Errors = 2, 1, 5

	// Lag is read once a second; commits move at each minute plus lateness.
	read := t0.Add(time.Duration(int64(sec)) * time.Second)
	if sec >= 1 {
		s.LagTime = read
		rsec := read.Sub(t0).Seconds()
		commitAt := math.Floor((rsec-2)/60) * 60
		s.Positions = map[int]int64{}
		for p := range partitions {
			rate := 160 + float64(p)*10
			end := int64(rate * rsec)
			committed := int64(-1)
			if commitAt >= 0 {
				committed = int64(rate * commitAt)
			}
			pos := end - int64(p%3)
			if f.livePositions {
				pos = int64(rate*sec) - int64(p%3)
			}
			if f.stopRead && p == 0 {
				pos = int64(rate * 5)
				committed = min(committed, pos)
				if committed < 0 {
					committed = pos
				}
			}
			lag := end - committed
			if committed < 0 {
				lag = end
			}
			s.Lag = append(s.Lag, state.PartitionLag{Partition: p, End: end, Committed: committed, Lag: lag})
			s.TotalLag += lag
			s.Positions[p] = pos
			s.Unread += max(end-pos, 0)
		}
	}
	for j := range 64 {
		i := (j * 7) % len(f.symbols)
		at := now.Add(-time.Duration(j) * 13 * time.Millisecond)
		p := f.price(i, at.Sub(t0).Seconds())
		s.Tape = append(s.Tape, trade.Trade{ID: fmt.Sprintf("t%d-%d", k, j), Symbol: f.symbols[i], Price: p, Volume: float64(100 + j%5*50), Time: at})
	}
	if sec >= 12 {
		s.Events = append(s.Events, state.Event{Time: t0.Add(12 * time.Second), Level: slog.LevelWarn, Source: "kafka", Message: "rebalance in progress"})
	}
	if sec >= 20 {
		s.Events = append(s.Events, state.Event{Time: t0.Add(20 * time.Second), Level: slog.LevelError, Source: "kafka produce", Message: "write: broker not available\nretrying", Repeats: 3})
	}
	if sec >= 26 {
		s.Events = append(s.Events, state.Event{Time: t0.Add(26 * time.Second), Level: slog.LevelInfo, Source: "store", Message: "store is back after 4.1s and 3 retries"})
	}
	if sec >= 35 {
		s.Events = append(s.Events, state.Event{Time: t0.Add(35 * time.Second), Level: slog.LevelError, Source: "bad message", Message: "partition 2 offset 77: invalid trade: empty symbol"})
	}
	if f.alerts {
		f.addAlerts(s, sec)
	}
	return s
}

// addAlerts puts into s, at sec, the alerts of the fixture's rules.
func (f *fixture) addAlerts(s *state.Snapshot, sec float64) {
	if sec >= 30 {
		s.Events = append(s.Events, state.Event{Time: t0.Add(30 * time.Second), Level: slog.LevelInfo, Source: state.AlertSource, Message: "store-down: store ok again"})
	}
	if sec >= 38 {
		s.Alerts = append(s.Alerts, state.Alert{Rule: "lag-high", Subject: "partition 2", Since: t0.Add(38 * time.Second), Message: "partition 2 lag 5400 above 5000"})
		s.Events = append(s.Events, state.Event{Time: t0.Add(38 * time.Second), Level: slog.LevelWarn, Source: state.AlertSource, Message: "lag-high: partition 2 lag 5400 above 5000"})
	}
	if sec >= 40 {
		s.Alerts = append(s.Alerts, state.Alert{Rule: "aapl-below-20", Subject: "AAPL", Symbol: "AAPL", Since: t0.Add(40 * time.Second), Message: "AAPL 19.97 below 20.00"})
		s.Events = append(s.Events, state.Event{Time: t0.Add(40 * time.Second), Level: slog.LevelWarn, Source: state.AlertSource, Message: "aapl-below-20: AAPL 19.97 below 20.00"})
	}
}

func sortSectors(ds []agg.SectorDay) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j].Volume > ds[j-1].Volume; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}

// candles fabricates n stored candles of symbol i ending before now, of a
// run that started at start.
func (f *fixture) candles(symbol string, interval time.Duration, n int, now, start time.Time) []agg.Candle {
	i := 0
	for j, s := range f.symbols {
		if s == symbol {
			i = j
		}
	}
	end := now.Truncate(interval)
	var out []agg.Candle
	first := start
	for k := n; k >= 1; k-- {
		start := end.Add(-time.Duration(k) * interval)
		if start.Before(first) {
			continue
		}
		a, b := start.Sub(t0).Seconds(), start.Add(interval).Sub(t0).Seconds()
		o, c := f.price(i, a), f.price(i, b)
		hi := max(o, c) + f.base[i]*0.001*float64(1+k%3)
		lo := min(o, c) - f.base[i]*0.001*float64(1+k%2)
		vol := float64(100 * (1 + (k*7)%9))
		out = append(out, agg.Candle{Symbol: symbol, Interval: interval, Start: start, Open: o, High: hi, Low: lo, Close: c,
			Volume: vol, Notional: vol * (o + c) / 2, Count: int64(1 + k%5)})
	}
	return out
}

// storedCandles fabricates the stored candles of symbol whose start lies in
// [from, to): those of the earlier runs, then this run's, which end before
// now.
func (f *fixture) storedCandles(symbol string, interval time.Duration, from, to, now time.Time) []agg.Candle {
	var out []agg.Candle
	spans := append(slices.Clone(f.earlier), timeSpan{t0, now.Truncate(interval)})
	for _, sp := range spans {
		a, b := maxTime(sp.from, from), minTime(sp.to, to)
		if !a.Before(b) {
			continue
		}
		// This run's as RecentCandles has them; an earlier run's alike.
		n := int(sp.to.Sub(a)/interval) + 1
		for _, c := range f.candles(symbol, interval, n, sp.to.Add(interval-1), sp.from) {
			if !c.Start.Before(a) && c.Start.Before(b) {
				out = append(out, c)
			}
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// fakeSource is a Source over a fixture; tests set its snapshot.
type fakeSource struct {
	f *fixture

	mu      sync.Mutex
	snap    *state.Snapshot
	pauses  int
	resumes int
	reads   int
	subs    []string
	rates   []float64
}

// at makes the k-th snapshot the latest and returns it.
func (s *fakeSource) at(k int) *state.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = s.f.snapshot(k)
	return s.snap
}

func (s *fakeSource) Snapshot() *state.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

func (s *fakeSource) Pause() {
	s.mu.Lock()
	s.pauses++
	s.f.paused = true
	s.mu.Unlock()
}

func (s *fakeSource) Subscribe(symbol string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if symbol == "BAD" {
		return errors.New("no such symbol")
	}
	s.subs = append(s.subs, "+"+symbol)
	return nil
}

func (s *fakeSource) Unsubscribe(symbol string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, "-"+symbol)
	return nil
}

// SetRate changes the fixture's pace, as the pipeline's does a paced
// source's, and keeps every rate asked for.
func (s *fakeSource) SetRate(rate float64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.f.paced {
		return pipeline.ErrFixedRate
	}
	s.f.pace = rate
	s.rates = append(s.rates, rate)
	return nil
}

func (s *fakeSource) Resume() {
	s.mu.Lock()
	s.resumes++
	s.f.paused = false
	s.mu.Unlock()
}

func (s *fakeSource) RecentCandles(_ context.Context, symbol string, interval time.Duration, n int) ([]agg.Candle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	now := t0
	if s.snap != nil {
		now = s.snap.Time
	}
	cs := s.f.candles(symbol, interval, n, now, t0)
	// Fewer than n from this run: the newest of the earlier runs' before
	// them.
	for i := len(s.f.earlier) - 1; i >= 0 && len(cs) < n; i-- {
		sp := s.f.earlier[i]
		more := s.f.storedCandles(symbol, interval, sp.from, sp.to, t0)
		cs = append(more[max(len(more)-(n-len(cs)), 0):], cs...)
	}
	return cs, nil
}

func (s *fakeSource) Candles(_ context.Context, symbol string, interval time.Duration, from, to time.Time) ([]agg.Candle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	now := t0
	if s.snap != nil {
		now = s.snap.Time
	}
	return s.f.storedCandles(symbol, interval, from, to, now), nil
}
