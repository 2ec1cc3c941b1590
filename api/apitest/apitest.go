// Package apitest is a pipeline for tests of the API and its clients: its
// snapshots change at every read, and it counts what it is asked to do.
package apitest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/state"
	"github.com/tradetop/tradetop/trade"
)

// Service is a fake pipeline. Every method is safe for concurrent use.
type Service struct {
	mu        sync.Mutex
	started   time.Time
	reads     int
	paused    bool
	pauses    int
	resumes   int
	subs      []string
	rates     []float64
	candleAsk []string
	symbols   int
}

// New returns a service whose run started at started, with n symbols in
// its snapshots.
func New(started time.Time, n int) *Service {
	return &Service{started: started, symbols: n}
}

// Snapshot returns a new snapshot at every call, a tenth of a second after
// the one before.
func (s *Service) Snapshot() *state.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	now := s.started.Add(time.Duration(s.reads) * 100 * time.Millisecond)
	snap := &state.Snapshot{
		Time: now, Started: s.started, Source: "synthetic seed=1", Broker: "embedded", Store: "sqlite",
		Topic: "trades", Group: "tradetop", Intervals: []time.Duration{time.Second, time.Minute},
		Paused: s.paused, Produced: int64(s.reads) * 100, StoredTrades: int64(s.reads)*100 - 7,
		InRate: 1000, StoredRate: 990, Rate: 1000, RateAdjustable: true,
		Lag:       []state.PartitionLag{{Partition: 0, End: int64(s.reads) * 50, Committed: int64(s.reads)*50 - 3, Lag: 3}},
		Positions: map[int]int64{0: int64(s.reads) * 50},
		Events:    []state.Event{{Time: now, Source: "store", Message: "a warning"}},
	}
	for i := range s.symbols {
		sym := fmt.Sprintf("SYM%03d", i)
		snap.Symbols = append(snap.Symbols, agg.SymbolStats{Symbol: sym, Sector: "Tech", First: 100, Last: 100 + float64(s.reads%7),
			High: 110, Low: 90, Volume: 1e4, Notional: 1e6, Count: int64(s.reads), LastTime: now})
		snap.Tape = append(snap.Tape, trade.Trade{ID: fmt.Sprintf("t-%d-%d", s.reads, i), Symbol: sym, Price: 101.25, Volume: 3, Time: now})
	}
	return snap
}

// Reads is how many snapshots were taken.
func (s *Service) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *Service) Pause() {
	s.mu.Lock()
	s.paused = true
	s.pauses++
	s.mu.Unlock()
}

func (s *Service) Resume() {
	s.mu.Lock()
	s.paused = false
	s.resumes++
	s.mu.Unlock()
}

// Asked says what the service was asked to do.
type Asked struct {
	Pauses, Resumes int
	Subs            []string
	Rates           []float64
	Candles         []string
}

// Asked returns what the service was asked to do so far.
func (s *Service) Asked() Asked {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Asked{Pauses: s.pauses, Resumes: s.resumes, Subs: append([]string(nil), s.subs...),
		Rates: append([]float64(nil), s.rates...), Candles: append([]string(nil), s.candleAsk...)}
}

// ErrUnknownSymbol is the answer to a change of subscription to "NOPE".
var ErrUnknownSymbol = errors.New("finnhub does not know NOPE")

func (s *Service) Subscribe(symbol string) error {
	if symbol == "NOPE" {
		return ErrUnknownSymbol
	}
	s.mu.Lock()
	s.subs = append(s.subs, "+"+symbol)
	s.mu.Unlock()
	return nil
}

func (s *Service) Unsubscribe(symbol string) error {
	s.mu.Lock()
	s.subs = append(s.subs, "-"+symbol)
	s.mu.Unlock()
	return nil
}

func (s *Service) SetRate(rate float64) error {
	s.mu.Lock()
	s.rates = append(s.rates, rate)
	s.mu.Unlock()
	return nil
}

// Candle is the i-th candle the service holds of any symbol and interval.
func Candle(symbol string, interval time.Duration, start time.Time, i int) agg.Candle {
	return agg.Candle{Symbol: symbol, Interval: interval, Start: start.Add(time.Duration(i) * interval),
		Open: 100, High: 101 + float64(i), Low: 99, Close: 100.5, Volume: float64(10 * (i + 1)), Notional: 1005, Count: int64(i + 1)}
}

func (s *Service) RecentCandles(_ context.Context, symbol string, interval time.Duration, n int) ([]agg.Candle, error) {
	s.mu.Lock()
	s.candleAsk = append(s.candleAsk, fmt.Sprintf("recent %s %s %d", symbol, interval, n))
	s.mu.Unlock()
	var out []agg.Candle
	for i := range n {
		out = append(out, Candle(symbol, interval, s.started, i))
	}
	return out, nil
}

func (s *Service) Candles(_ context.Context, symbol string, interval time.Duration, from, to time.Time) ([]agg.Candle, error) {
	s.mu.Lock()
	s.candleAsk = append(s.candleAsk, fmt.Sprintf("range %s %s %s %s", symbol, interval, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339)))
	s.mu.Unlock()
	var out []agg.Candle
	for i := 0; ; i++ {
		c := Candle(symbol, interval, from, i)
		if !c.Start.Before(to) {
			return out, nil
		}
		out = append(out, c)
	}
}
