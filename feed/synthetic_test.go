package feed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradetop/tradetop/trade"
)

var testStart = time.Date(2026, 1, 2, 14, 30, 0, 0, time.UTC)

// collect runs s to completion and returns what it emitted.
func collect(t *testing.T, s *Synthetic) []trade.Trade {
	t.Helper()
	var got []trade.Trade
	err := s.Run(t.Context(), func(tr trade.Trade) error {
		got = append(got, tr)
		return nil
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return got
}

func mustSynthetic(t testing.TB, cfg SyntheticConfig) *Synthetic {
	t.Helper()
	s, err := NewSynthetic(cfg)
	if err != nil {
		t.Fatalf("NewSynthetic: %v", err)
	}
	return s
}

func TestNewSynthetic(t *testing.T) {
	tests := []struct {
		name     string
		cfg      SyntheticConfig
		wantErr  string
		wantName string
	}{
		{name: "zero value", wantName: "synthetic seed=1"},
		{name: "seed", cfg: SyntheticConfig{Seed: 7}, wantName: "synthetic seed=7"},
		{name: "negative seed", cfg: SyntheticConfig{Seed: -3}, wantName: "synthetic seed=-3"},
		{name: "rate", cfg: SyntheticConfig{Rate: 0.5, Count: 10}, wantName: "synthetic seed=1"},
		{name: "negative rate", cfg: SyntheticConfig{Rate: -1}, wantErr: "rate -1 out of range"},
		{name: "NaN rate", cfg: SyntheticConfig{Rate: math.NaN()}, wantErr: "rate NaN out of range"},
		{name: "infinite rate", cfg: SyntheticConfig{Rate: math.Inf(1)}, wantErr: "rate +Inf out of range"},
		{name: "rate above MaxRate", cfg: SyntheticConfig{Rate: 2 * MaxRate}, wantErr: "out of range"},
		{name: "negative count", cfg: SyntheticConfig{Count: -1}, wantErr: "count -1 is negative"},
		{name: "start too early", cfg: SyntheticConfig{Start: time.Unix(0, 0)}, wantErr: "start 1970-01-01T00:00:00Z out of range"},
		{name: "start too late", cfg: SyntheticConfig{Start: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}, wantErr: "out of range"},
		{name: "empty universe", cfg: SyntheticConfig{Universe: &Universe{}}, wantErr: "universe has no instruments"},
		{name: "every problem at once", cfg: SyntheticConfig{Rate: -1, Count: -1}, wantErr: "count -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSynthetic(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if vErr := tt.cfg.Validate(); vErr == nil {
					t.Error("Validate accepts what NewSynthetic rejects")
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := s.Name(); got != tt.wantName {
				t.Errorf("Name() = %q, want %q", got, tt.wantName)
			}
		})
	}
}

func TestSyntheticDeterminism(t *testing.T) {
	base := SyntheticConfig{Seed: 7, Start: testStart, Count: 5000}
	ref := collect(t, mustSynthetic(t, base))

	tests := []struct {
		name string
		cfg  SyntheticConfig
		same bool
	}{
		{name: "same config", cfg: base, same: true},
		{name: "same source run again", cfg: base, same: true},
		{name: "other seed", cfg: SyntheticConfig{Seed: 8, Start: testStart, Count: 5000}},
		{name: "other start", cfg: SyntheticConfig{Seed: 7, Start: testStart.Add(time.Second), Count: 5000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(t, mustSynthetic(t, tt.cfg))
			if tt.same {
				if !slices.Equal(got, ref) {
					t.Fatal("same config, different trades")
				}
				return
			}
			if slices.Equal(got, ref) {
				t.Fatal("different config, same trades")
			}
		})
	}

	t.Run("same source run twice", func(t *testing.T) {
		s := mustSynthetic(t, base)
		if a, b := collect(t, s), collect(t, s); !slices.Equal(a, b) {
			t.Fatal("a second Run of one source differs from the first")
		}
	})

	t.Run("other seed moves symbols prices and volumes", func(t *testing.T) {
		other := collect(t, mustSynthetic(t, SyntheticConfig{Seed: 8, Start: testStart, Count: 5000}))
		var sym, price, vol int
		for i := range ref {
			if ref[i].Symbol != other[i].Symbol {
				sym++
			}
			if ref[i].Price != other[i].Price {
				price++
			}
			if ref[i].Volume != other[i].Volume {
				vol++
			}
		}
		if sym < len(ref)/2 || price < len(ref)/2 || vol < len(ref)/4 {
			t.Errorf("seeds 7 and 8 differ in only %d symbols, %d prices, %d volumes of %d", sym, price, vol, len(ref))
		}
	})
}

func TestSyntheticTrades(t *testing.T) {
	tests := []struct {
		name  string
		cfg   SyntheticConfig
		count int
	}{
		{name: "one trade", cfg: SyntheticConfig{Start: testStart, Count: 1}, count: 1},
		{name: "default seed", cfg: SyntheticConfig{Start: testStart, Count: 20_000}, count: 20_000},
		{name: "seed 42", cfg: SyntheticConfig{Seed: 42, Start: testStart, Count: 20_000}, count: 20_000},
		{
			name: "start with nanoseconds, outside UTC",
			cfg: SyntheticConfig{
				Seed:  3,
				Start: time.Date(2026, 3, 4, 9, 30, 0, 123456789, time.FixedZone("EST", -5*3600)),
				Count: 1000,
			},
			count: 1000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trades := collect(t, mustSynthetic(t, tt.cfg))
			if len(trades) != tt.count {
				t.Fatalf("%d trades, want exactly %d", len(trades), tt.count)
			}
			seed := tt.cfg.Seed
			if seed == 0 {
				seed = 1
			}
			prefix := fmt.Sprintf("s%d-%d-", seed, tt.cfg.Start.UnixMilli())
			ids := make(map[string]bool, len(trades))
			for i, tr := range trades {
				if err := tr.Validate(); err != nil {
					t.Fatalf("trade %d %+v: %v", i, tr, err)
				}
				if want := prefix + fmt.Sprint(i+1); tr.ID != want {
					t.Fatalf("trade %d has ID %q, want %q", i, tr.ID, want)
				}
				if ids[tr.ID] {
					t.Fatalf("duplicate ID %q", tr.ID)
				}
				ids[tr.ID] = true
				if tr.Time.Location() != time.UTC {
					t.Fatalf("trade %d time %v is not in UTC", i, tr.Time)
				}
				if i == 0 {
					if !tr.Time.Equal(tt.cfg.Start) {
						t.Fatalf("first trade at %v, want Start %v", tr.Time, tt.cfg.Start)
					}
					continue
				}
				gap := tr.Time.Sub(trades[i-1].Time)
				if gap <= 0 || gap%time.Microsecond != 0 {
					t.Fatalf("trade %d is %v after the previous one: want a positive whole number of microseconds", i, gap)
				}
			}
			if n := len(trades); n > 1000 {
				mean := trades[n-1].Time.Sub(trades[0].Time) / time.Duration(n-1)
				if mean < 900*time.Microsecond || mean > 1100*time.Microsecond {
					t.Errorf("mean interval %v, want about 1ms", mean)
				}
			}
		})
	}
}

// TestSyntheticLongRun checks the market model over a million trades: prices
// stay near their references, on the tick, and every kind of volume shows up.
func TestSyntheticLongRun(t *testing.T) {
	if testing.Short() {
		t.Skip("long run")
	}
	const n = 1_000_000
	u := DefaultUniverse()
	s := mustSynthetic(t, SyntheticConfig{Seed: 11, Start: testStart, Count: n})
	trades := map[string]int{}
	lo, hi := map[string]float64{}, map[string]float64{}
	var odd, round, block int
	var firstErr error
	err := s.Run(t.Context(), func(tr trade.Trade) error {
		in, ok := u.Lookup(tr.Symbol)
		switch {
		case !ok:
			firstErr = fmt.Errorf("unknown symbol %q", tr.Symbol)
		case tr.Price < 0.2*in.Price || tr.Price > 5*in.Price:
			firstErr = fmt.Errorf("%s at %v, reference %v", tr.Symbol, tr.Price, in.Price)
		case math.Abs(tr.Price*100-math.Round(tr.Price*100)) > 1e-6:
			firstErr = fmt.Errorf("%s at %v, not on a cent", tr.Symbol, tr.Price)
		case tr.Volume != math.Trunc(tr.Volume) || tr.Volume <= 0 || tr.Volume > 10_000:
			firstErr = fmt.Errorf("%s: volume %v", tr.Symbol, tr.Volume)
		}
		if firstErr != nil {
			return firstErr
		}
		trades[tr.Symbol]++
		if p, ok := lo[tr.Symbol]; !ok || tr.Price < p {
			lo[tr.Symbol] = tr.Price
		}
		hi[tr.Symbol] = max(hi[tr.Symbol], tr.Price)
		switch v := tr.Volume; {
		case v < 100:
			odd++
		case v >= 1000:
			block++
		default:
			round++
			if int(v)%100 != 0 {
				firstErr = fmt.Errorf("round lot of %v shares", v)
				return firstErr
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(trades) != u.Len() {
		t.Errorf("%d symbols traded, want all %d", len(trades), u.Len())
	}
	if trades["NVDA"] < 3*trades["EQIX"] {
		t.Errorf("NVDA traded %d times, EQIX %d: liquidity does not weigh", trades["NVDA"], trades["EQIX"])
	}
	if round < n/2 || odd < n/20 || block < n/100 {
		t.Errorf("volumes: %d round lots, %d odd lots, %d blocks of %d", round, odd, block, n)
	}
	// The walk must move: every busy symbol ranges over at least 1%.
	for sym, c := range trades {
		if c > 5000 && hi[sym] < 1.01*lo[sym] {
			t.Errorf("%s ranged only %v..%v over %d trades", sym, lo[sym], hi[sym], c)
		}
	}
}

func TestSyntheticLiquidityWeights(t *testing.T) {
	u, err := LoadUniverse(strings.NewReader("symbol,name,sector,shares,price\nBIG,Big,S,400,100\nSMALL,Small,S,100,100\n"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200_000
	s := mustSynthetic(t, SyntheticConfig{Universe: u, Start: testStart, Count: n})
	big := 0
	for _, tr := range collect(t, s) {
		if tr.Symbol == "BIG" {
			big++
		}
	}
	// Weights are sqrt(400*100) : sqrt(100*100) = 2 : 1.
	if got := float64(big) / n; math.Abs(got-2.0/3) > 0.01 {
		t.Errorf("BIG has %.4f of the trades, want 2/3", got)
	}
}

func TestSyntheticWallClock(t *testing.T) {
	base := time.Date(2026, 5, 6, 7, 8, 9, 0, time.Local)
	calls := 0
	now := func() time.Time {
		calls++
		return base.Add(time.Duration(calls) * time.Millisecond)
	}
	s := mustSynthetic(t, SyntheticConfig{Seed: 5, Count: 3, Now: now})
	trades := collect(t, s)
	session := fmt.Sprintf("s5-%d-", base.Add(time.Millisecond).UnixMilli())
	for i, tr := range trades {
		want := base.Add(time.Duration(i+2) * time.Millisecond)
		if !tr.Time.Equal(want) || tr.Time.Location() != time.UTC {
			t.Errorf("trade %d at %v, want Now() = %v in UTC", i, tr.Time, want)
		}
		if wantID := session + fmt.Sprint(i+1); tr.ID != wantID {
			t.Errorf("trade %d has ID %q, want %q", i, tr.ID, wantID)
		}
	}

	// Apart from times and IDs, a seed makes the same market in both modes.
	pinned := collect(t, mustSynthetic(t, SyntheticConfig{Seed: 5, Count: 3, Start: testStart}))
	for i := range trades {
		a, b := trades[i], pinned[i]
		if a.Symbol != b.Symbol || a.Price != b.Price || a.Volume != b.Volume {
			t.Errorf("trade %d: wall clock %+v, pinned %+v", i, a, b)
		}
	}
}

func TestSyntheticRunStops(t *testing.T) {
	errFull := errors.New("full")
	tests := []struct {
		name      string
		cfg       SyntheticConfig
		cancelAt  int // cancel the context when emit sees this trade number; 0: never
		failAt    int // emit fails on this trade number; 0: never
		wantErr   error
		wantCount int
	}{
		{name: "count", cfg: SyntheticConfig{Count: 10}, wantCount: 10},
		{name: "emit error", cfg: SyntheticConfig{}, failAt: 5, wantErr: errFull, wantCount: 5},
		{name: "cancelled", cfg: SyntheticConfig{}, cancelAt: 100, wantErr: context.Canceled, wantCount: 100},
		{name: "cancelled at the last trade", cfg: SyntheticConfig{Count: 100}, cancelAt: 100, wantCount: 100},
		{name: "paced, count", cfg: SyntheticConfig{Count: 10, Rate: 1e6}, wantCount: 10},
		{name: "paced, emit error", cfg: SyntheticConfig{Rate: 1e6}, failAt: 5, wantErr: errFull, wantCount: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				n := 0
				err := mustSynthetic(t, tt.cfg).Run(ctx, func(trade.Trade) error {
					n++
					if n == tt.cancelAt {
						cancel()
					}
					if n == tt.failAt {
						return errFull
					}
					return nil
				})
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Errorf("Run returned %v, want %v", err, tt.wantErr)
				}
				// A cancelled context is noticed within CtxCheckEvery trades.
				if n < tt.wantCount || n > tt.wantCount+CtxCheckEvery {
					t.Errorf("%d trades emitted, want %d", n, tt.wantCount)
				}
				if tt.cancelAt == 0 && n != tt.wantCount {
					t.Errorf("%d trades emitted, want exactly %d", n, tt.wantCount)
				}
			})
		})
	}

	t.Run("cancelled before the start", func(t *testing.T) {
		for _, rate := range []float64{0, 100} {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			n := 0
			err := mustSynthetic(t, SyntheticConfig{Rate: rate}).Run(ctx, func(trade.Trade) error { n++; return nil })
			if !errors.Is(err, context.Canceled) || n != 0 {
				t.Errorf("rate %v: Run returned %v after %d trades, want context.Canceled after none", rate, err, n)
			}
		}
	})
}

func TestPacer(t *testing.T) {
	tests := []struct {
		name string
		rate float64
	}{
		{name: "one per second", rate: 1},
		{name: "fractional", rate: 7.5},
		{name: "one per tick", rate: 100},
		{name: "uneven", rate: 1234.5},
		{name: "fast", rate: 1e6},
	}
	start := time.Unix(1_800_000_000, 0)
	const ticks = 1000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPacer(tt.rate, start)
			burst := max(math.Ceil(tt.rate*tickInterval.Seconds()), 1)
			total := 0
			for i := 1; i <= ticks; i++ {
				n := p.due(start.Add(time.Duration(i) * tickInterval))
				if float64(n) > burst {
					t.Fatalf("tick %d: burst of %d, want at most %v", i, n, burst)
				}
				total += n
			}
			want := tt.rate * ticks * tickInterval.Seconds()
			if math.Abs(float64(total)-want) > burst {
				t.Errorf("%d trades over %d ticks, want %v within %v", total, ticks, want, burst)
			}
		})
	}

	t.Run("catch-up is capped", func(t *testing.T) {
		p := newPacer(1000, start)
		if n := p.due(start.Add(time.Hour)); n != 100 {
			t.Errorf("after an hour's stall, %d trades due, want 100ms worth (100)", n)
		}
		if n := p.due(start.Add(time.Hour + tickInterval)); n != 10 {
			t.Errorf("then %d trades due on the next tick, want 10", n)
		}
	})

	t.Run("a slow pace wakes once per trade", func(t *testing.T) {
		for _, rate := range []float64{0.1, 2, 7.5, 60} {
			p := newPacer(rate, start)
			now, wakes, trades := start, 0, 0
			for trades < 200 {
				now = now.Add(p.next())
				trades += p.due(now)
				wakes++
			}
			if wakes > trades+1 {
				t.Errorf("rate %v: %d wake-ups for %d trades", rate, wakes, trades)
			}
			if got, want := now.Sub(start).Seconds(), float64(trades)/rate; math.Abs(got-want) > 1/rate+tickInterval.Seconds() {
				t.Errorf("rate %v: %d trades took %.3fs, want %.3fs", rate, trades, got, want)
			}
		}
		if d := newPacer(1000, start).next(); d != tickInterval {
			t.Errorf("at 1000/s the pacer sleeps %v, want one tick (%v)", d, tickInterval)
		}
	})

	t.Run("a slow pace catches up by one trade", func(t *testing.T) {
		p := newPacer(0.1, start)
		if n := p.due(start.Add(time.Hour)); n != 1 {
			t.Errorf("after an hour's stall at 0.1/s, %d trades due, want 1", n)
		}
	})

	t.Run("clock stepping back", func(t *testing.T) {
		p := newPacer(1000, start)
		if n := p.due(start.Add(-time.Second)); n != 0 {
			t.Errorf("%d trades due on a step back, want 0", n)
		}
		if n := p.due(start.Add(-time.Second + tickInterval)); n != 10 {
			t.Errorf("%d trades due a tick after the step back, want 10", n)
		}
	})
}

// TestSyntheticPacing runs the paced source on synctest's fake clock: the
// real ticker, no real sleeping.
func TestSyntheticPacing(t *testing.T) {
	tests := []struct {
		name string
		rate float64
		run  time.Duration
	}{
		{name: "slow", rate: 0.5, run: 20 * time.Second},
		{name: "fractional", rate: 7.5, run: 10 * time.Second},
		{name: "one per tick", rate: 100, run: 10 * time.Second},
		{name: "uneven", rate: 1234.5, run: 2 * time.Second},
		{name: "fast", rate: 50_000, run: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), tt.run)
				defer cancel()
				s := mustSynthetic(t, SyntheticConfig{Rate: tt.rate, Start: testStart})
				n := 0
				err := s.Run(ctx, func(trade.Trade) error { n++; return nil })
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Run returned %v, want the deadline", err)
				}
				burst := max(math.Ceil(tt.rate*tickInterval.Seconds()), 1)
				want := tt.rate * tt.run.Seconds()
				if math.Abs(float64(n)-want) > burst {
					t.Errorf("%d trades in %v, want %v within one burst (%v)", n, tt.run, want, burst)
				}
			})
		})
	}

	t.Run("backpressure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const (
				rate  = 1000.0
				stall = 2 * time.Second
				run   = 5 * time.Second
			)
			ctx, cancel := context.WithTimeout(t.Context(), run)
			defer cancel()
			s := mustSynthetic(t, SyntheticConfig{Rate: rate, Start: testStart})
			n := 0
			bursts := map[time.Time]int{}
			err := s.Run(ctx, func(trade.Trade) error {
				n++
				if n == 1 {
					time.Sleep(stall)
				}
				bursts[time.Now()]++
				return nil
			})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Run returned %v, want the deadline", err)
			}
			// The stall costs its time but 100ms of catch-up.
			want := rate * (run - stall + MaxCatchUp).Seconds()
			burst := rate * tickInterval.Seconds()
			if math.Abs(float64(n)-want) > 2*burst {
				t.Errorf("%d trades, want %v within two bursts", n, want)
			}
			limit := int(rate*MaxCatchUp.Seconds() + 2*burst)
			for at, c := range bursts {
				if c > limit {
					t.Errorf("%d trades at once at %v, want at most %d", c, at, limit)
				}
			}
		})
	})

	t.Run("SetRate wakes a source that sleeps until its next trade", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			s := mustSynthetic(t, SyntheticConfig{Rate: 0.01, Start: testStart})
			go func() {
				time.Sleep(time.Second)
				if err := s.SetRate(1000); err != nil {
					t.Error(err)
				}
			}()
			n := 0
			if err := s.Run(ctx, func(trade.Trade) error { n++; return nil }); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Run returned %v, want the deadline", err)
			}
			if n < 1990 || n > 2010 {
				t.Errorf("%d trades, want 2000 (1000/s from 1s to 3s, none before)", n)
			}
		})
	})

	t.Run("SetRate changes the pace of a running source", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
			defer cancel()
			s := mustSynthetic(t, SyntheticConfig{Rate: 100, Start: testStart})
			go func() {
				time.Sleep(2 * time.Second)
				if err := s.SetRate(1000); err != nil {
					t.Error(err)
				}
			}()
			n := 0
			if err := s.Run(ctx, func(trade.Trade) error { n++; return nil }); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Run returned %v, want the deadline", err)
			}
			if want := 100*2 + 1000*2; math.Abs(float64(n-want)) > 20 {
				t.Errorf("%d trades, want %d within two bursts", n, want)
			}
			if got := s.Rate(); got != 1000 {
				t.Errorf("Rate() = %v after SetRate(1000)", got)
			}
		})
	})

	t.Run("SetRate(0) unpaces a running source", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// At one trade a second the count would take hours of
			// (virtual) time; unpaced it takes none.
			s := mustSynthetic(t, SyntheticConfig{Rate: 1, Start: testStart, Count: 20_000})
			start := time.Now()
			n := 0
			err := s.Run(t.Context(), func(trade.Trade) error {
				if n++; n == 1 {
					if err := s.SetRate(0); err != nil {
						t.Error(err)
					}
				}
				return nil
			})
			if err != nil || n != 20_000 {
				t.Fatalf("Run = %v after %d trades, want nil after 20000", err, n)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("unpaced run took %v of virtual time", d)
			}
		})
	})

	t.Run("SetRate refuses what the config refuses", func(t *testing.T) {
		s := mustSynthetic(t, SyntheticConfig{Rate: 5})
		for _, r := range []float64{-1, math.NaN(), MaxRate * 2, math.Inf(1)} {
			if err := s.SetRate(r); err == nil {
				t.Errorf("SetRate(%v) accepted", r)
			}
		}
		if got := s.Rate(); got != 5 {
			t.Errorf("Rate() = %v after refused changes, want 5", got)
		}
	})

	t.Run("rate does not change a pinned sequence", func(t *testing.T) {
		cfg := SyntheticConfig{Seed: 9, Start: testStart, Count: 3000}
		unpaced := collect(t, mustSynthetic(t, cfg))
		synctest.Test(t, func(t *testing.T) {
			cfg.Rate = 2000
			paced := collect(t, mustSynthetic(t, cfg))
			if !slices.Equal(paced, unpaced) {
				t.Error("paced and unpaced runs differ")
			}
		})
	})
}

func TestSyntheticAllocs(t *testing.T) {
	for _, pinned := range []bool{true, false} {
		cfg := SyntheticConfig{}
		if pinned {
			cfg.Start = testStart
		}
		g := mustSynthetic(t, cfg).newGenerator()
		var tr trade.Trade
		if n := testing.AllocsPerRun(10_000, func() { g.next(&tr) }); n > 1 {
			t.Errorf("pinned %v: %v allocations per trade, want at most 1 (the ID)", pinned, n)
		}
	}
}

func TestRoundToTick(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want float64
	}{
		{name: "cents", in: 189.234, want: 189.23},
		{name: "half cent up", in: 10.005001, want: 10.01},
		{name: "one", in: 1, want: 1},
		{name: "below one", in: 0.123456, want: 0.1235},
		{name: "just below one rounds up", in: 0.99996, want: 1},
		{name: "tiny stays positive", in: 1e-9, want: 0.0001},
		{name: "huge is capped", in: 1e15, want: trade.MaxPrice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := roundToTick(tt.in); got != tt.want {
				t.Errorf("roundToTick(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestAlias(t *testing.T) {
	tests := []struct {
		name    string
		weights []float64
	}{
		{name: "one", weights: []float64{3}},
		{name: "equal", weights: []float64{1, 1, 1, 1}},
		{name: "skewed", weights: []float64{100, 1, 10, 0.5, 30}},
		{name: "default universe", weights: func() []float64 {
			var w []float64
			for _, in := range DefaultUniverse().Instruments() {
				w = append(w, math.Sqrt(float64(in.Shares)*in.Price))
			}
			return w
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlias(tt.weights)
			g := mustSynthetic(t, SyntheticConfig{}).newGenerator()
			const n = 500_000
			counts := make([]int, len(tt.weights))
			for range n {
				counts[a.draw(g.rng)]++
			}
			var sum float64
			for _, w := range tt.weights {
				sum += w
			}
			for i, w := range tt.weights {
				p := w / sum
				sd := math.Sqrt(p * (1 - p) / n)
				if got := float64(counts[i]) / n; math.Abs(got-p) > 5*sd+1e-9 {
					t.Errorf("index %d drawn %.5f of the time, want %.5f", i, got, p)
				}
			}
		})
	}
}

// BenchmarkSyntheticNext measures the generation of one trade.
func BenchmarkSyntheticNext(b *testing.B) {
	g := mustSynthetic(b, SyntheticConfig{Start: testStart}).newGenerator()
	var tr trade.Trade
	b.ReportAllocs()
	for b.Loop() {
		g.next(&tr)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "trades/s")
}

// BenchmarkSyntheticRun measures an unpaced Run of 100,000 trades, emit
// included, as a pipeline would drive it.
func BenchmarkSyntheticRun(b *testing.B) {
	const perRun = 100_000
	s := mustSynthetic(b, SyntheticConfig{Start: testStart, Count: perRun})
	var sink float64
	emit := func(tr trade.Trade) error {
		sink += tr.Volume
		return nil
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Run(b.Context(), emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*perRun/b.Elapsed().Seconds(), "trades/s")
	b.ReportMetric(0, "ns/op")
	_ = sink
}
