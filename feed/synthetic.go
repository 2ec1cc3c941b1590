package feed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tradetop/tradetop/trade"
)

// MaxRate is the highest pacing rate a synthetic source accepts, in trades per
// second. Rate 0 (no pacing) is faster still.
const MaxRate = 1e9

// Pacing: a burst at most every tickInterval, and after a stall at most
// MaxCatchUp worth of trades (or one) at once.
const tickInterval = 10 * time.Millisecond

// unpacedChunk is how many trades an unpaced Run makes between two looks at
// the rate.
const unpacedChunk = 4096

// The market model. Log prices follow a discretised Ornstein-Uhlenbeck walk
// towards the reference price: most trades move by a normal step of moveVol,
// one in 1/jumpProb by jumpVol, and reversion pulls back so the stationary
// spread of the price around its reference is about ±10% (one sigma).
const (
	moveVol   = 1.5e-4 // 1.5 basis points
	jumpProb  = 0.02
	jumpVol   = 1e-3 // 10 basis points
	reversion = 2e-6

	// meanGapMicros is the mean virtual time between two trades when Start
	// is pinned: 1ms, whatever the Rate.
	meanGapMicros = 1000.0

	// blockProb is the share of block trades (1000 to 10000 shares).
	blockProb = 0.03

	// pcgStream is the second PCG seed word ("tradetop"), fixed so that the
	// sequence is a function of Seed alone.
	pcgStream = 0x7472616465746f70
)

// roundLots are the multiples of 100 shares a round-lot trade draws from;
// repeats weight the small ones.
var roundLots = [...]float64{1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 5, 5, 6, 8, 9}

// SyntheticConfig configures a synthetic source. The zero value is valid: the
// default universe, seed 1, unpaced, event times from the wall clock, no end.
type SyntheticConfig struct {
	// Universe is the set of instruments traded. Default: DefaultUniverse().
	Universe *Universe
	// Seed seeds the pseudo-random generator (PCG). Default: DefaultSeed,
	// 1 (0 means it).
	Seed int64
	// Rate is the pace in trades per second of wall time, at most MaxRate.
	// Default: 0, no pacing: trades are made as fast as emit takes them.
	// Negative is an error.
	Rate float64
	// Start, when set, pins a virtual event clock: the first trade is at
	// Start and each next one a pseudo-random exponential interval later,
	// 1ms on average, in whole microseconds and at least 1µs, whatever the
	// Rate. The whole sequence, times included, is then a function of
	// (Universe, Seed, Start, Count). It must lie in the years 1971 to 2199.
	// Default: zero, event times are Now at emission.
	Start time.Time
	// Count is the number of trades after which Run returns nil.
	// Default: 0, unlimited. Negative is an error.
	Count int64
	// Now is the event clock when Start is zero, and the session start that
	// names trade IDs. Pacing follows the machine's clock, not Now.
	// Default: time.Now.
	Now func() time.Time
}

// DefaultSeed is SyntheticConfig.Seed when it is zero.
const DefaultSeed = 1

// withDefaults returns c with every zero field that has a default set to it.
func (c SyntheticConfig) withDefaults() SyntheticConfig {
	if c.Universe == nil {
		c.Universe = DefaultUniverse()
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports what is wrong with c, or nil. Zero fields are valid: they
// take their defaults.
func (c SyntheticConfig) Validate() error {
	var errs []error
	if c.Universe != nil && c.Universe.Len() == 0 {
		errs = append(errs, errors.New("universe has no instruments"))
	}
	if math.IsNaN(c.Rate) || c.Rate < 0 || c.Rate > MaxRate {
		errs = append(errs, fmt.Errorf("rate %v out of range [0, %g] trades/s", c.Rate, float64(MaxRate)))
	}
	if c.Count < 0 {
		errs = append(errs, fmt.Errorf("count %d is negative", c.Count))
	}
	if !c.Start.IsZero() {
		if y := c.Start.UTC().Year(); y < 1971 || y > 2199 {
			errs = append(errs, fmt.Errorf("start %s out of range (years 1971 to 2199)", c.Start.UTC().Format(time.RFC3339)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("synthetic feed: %w", errors.Join(errs...))
	}
	return nil
}

// Synthetic is a deterministic generated market: a Source of plausible US
// equity trades. Run may be called any number of times, from any goroutines;
// each call generates the sequence afresh. Its pace is the one thing that
// changes: SetRate, from any goroutine, paces every Run from the next tick.
type Synthetic struct {
	cfg    SyntheticConfig
	name   string
	market *market
	rate   atomic.Uint64 // math.Float64bits of the pace; 0 is unpaced
	// changed wakes a paced Run that sleeps until its next trade.
	changed chan struct{}
}

var (
	_ Source = (*Synthetic)(nil)
	_ Pacer  = (*Synthetic)(nil)
)

// NewSynthetic validates cfg, fills in its defaults and returns the source.
func NewSynthetic(cfg SyntheticConfig) (*Synthetic, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Universe == nil {
		u, err := loadDefaultUniverse()
		if err != nil {
			return nil, fmt.Errorf("synthetic feed: %w", err)
		}
		cfg.Universe = u
	}
	cfg = cfg.withDefaults()
	s := &Synthetic{
		cfg:     cfg,
		name:    "synthetic seed=" + strconv.FormatInt(cfg.Seed, 10),
		market:  newMarket(cfg.Universe),
		changed: make(chan struct{}, 1),
	}
	s.rate.Store(math.Float64bits(cfg.Rate))
	return s, nil
}

// Rate is the pace in trades per second of wall time; 0 is unpaced.
func (s *Synthetic) Rate() float64 { return math.Float64frombits(s.rate.Load()) }

// SetRate changes the pace of every Run from its next tick: trades per
// second of wall time, at most MaxRate, or 0 for no pacing. The sequence of
// trades does not change, only how fast it comes (and, unless Start is
// pinned, the event times, which follow the wall clock).
func (s *Synthetic) SetRate(rate float64) error {
	if math.IsNaN(rate) || rate < 0 || rate > MaxRate {
		return fmt.Errorf("synthetic feed: rate %v out of range [0, %g] trades/s", rate, float64(MaxRate))
	}
	s.rate.Store(math.Float64bits(rate))
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

// Name describes the source ("synthetic seed=7").
func (s *Synthetic) Name() string { return s.name }

// Run generates trades and calls emit with each, from the calling goroutine,
// until Count trades (it returns nil), ctx is done (ctx.Err()) or emit fails
// (its error). With a Rate it sleeps until the next trade is due, at least
// 10ms, and emits what is due then: a burst every 10ms at a fast pace, one
// trade per wake-up at a slow one. When emit blocks it waits, then catches up
// by at most 100ms worth of trades (or one trade). Unpaced, it emits
// as fast as emit takes them, looking at the rate again every unpacedChunk
// trades.
func (s *Synthetic) Run(ctx context.Context, emit func(trade.Trade) error) error {
	g := s.newGenerator()
	var (
		wake *time.Timer
		p    *pacer
	)
	defer func() {
		if wake != nil {
			wake.Stop()
		}
	}()
	for {
		rate := s.Rate()
		if rate == 0 {
			p = nil
			if stop, err := g.emitN(ctx, unpacedChunk, emit); stop {
				return err
			}
			continue
		}
		if p == nil {
			p = newPacer(rate, time.Now())
		}
		p.rate = rate
		if wait := p.next(); wake == nil {
			wake = time.NewTimer(wait)
		} else {
			wake.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.changed:
			// A new rate: what was due until now is due at the old one.
			if stop, err := g.emitN(ctx, p.due(time.Now()), emit); stop {
				return err
			}
		case now := <-wake.C:
			if stop, err := g.emitN(ctx, p.due(now), emit); stop {
				return err
			}
		}
	}
}

// market is the immutable part of the model, shared by every Run.
type market struct {
	symbols []string
	logRef  []float64 // log of each reference price
	oddLot  []float64 // probability of an odd-lot trade, per instrument
	pick    alias     // liquidity-weighted choice of instrument
}

func newMarket(u *Universe) *market {
	n := len(u.instruments)
	m := &market{
		symbols: make([]string, n),
		logRef:  make([]float64, n),
		oddLot:  make([]float64, n),
	}
	weights := make([]float64, n)
	for i, in := range u.instruments {
		m.symbols[i] = in.Symbol
		m.logRef[i] = math.Log(in.Price)
		// Big names trade more: weight by the square root of market cap.
		weights[i] = math.Sqrt(float64(in.Shares) * in.Price)
		// Dear shares trade in odd lots more often.
		switch {
		case in.Price < 50:
			m.oddLot[i] = 0.08
		case in.Price < 200:
			m.oddLot[i] = 0.15
		case in.Price < 500:
			m.oddLot[i] = 0.25
		default:
			m.oddLot[i] = 0.40
		}
	}
	m.pick = newAlias(weights)
	return m
}

// generator is the state of one Run. It is used by one goroutine.
type generator struct {
	m        *market
	rng      *rand.Rand
	logPrice []float64
	pinned   bool
	at       time.Time // the next event time, when pinned
	now      func() time.Time
	seq      int64
	count    int64
	id       []byte // session + "-", then the sequence
	prefix   int    // len of session + "-"
}

func (s *Synthetic) newGenerator() *generator {
	g := &generator{
		m:        s.market,
		rng:      rand.New(rand.NewPCG(uint64(s.cfg.Seed), pcgStream)),
		logPrice: append([]float64(nil), s.market.logRef...),
		now:      s.cfg.Now,
		count:    s.cfg.Count,
	}
	start := s.cfg.Start
	if start.IsZero() {
		start = s.cfg.Now()
	} else {
		g.pinned = true
		g.at = start.UTC()
	}
	g.id = make([]byte, 0, 64)
	g.id = append(g.id, 's')
	g.id = strconv.AppendInt(g.id, s.cfg.Seed, 10)
	g.id = append(g.id, '-')
	g.id = strconv.AppendInt(g.id, start.UnixMilli(), 10)
	g.id = append(g.id, '-')
	g.prefix = len(g.id)
	return g
}

// exhausted reports whether Count trades have been made.
func (g *generator) exhausted() bool { return g.count > 0 && g.seq >= g.count }

// emitN makes up to n trades (all remaining if n < 0) and hands each to emit.
// It reports stop with the error Run returns when Run should return: nil once
// Count trades are out, ctx.Err() when ctx is done, or emit's error.
func (g *generator) emitN(ctx context.Context, n int, emit func(trade.Trade) error) (stop bool, err error) {
	done := ctx.Done()
	for k := 0; n < 0 || k < n; k++ {
		if g.exhausted() {
			return true, nil
		}
		if k%CtxCheckEvery == 0 {
			select {
			case <-done:
				return true, ctx.Err()
			default:
			}
		}
		var t trade.Trade
		g.next(&t)
		if err := emit(t); err != nil {
			return true, err
		}
	}
	return g.exhausted(), nil
}

// next makes the next trade into t. The only allocation is the ID string.
func (g *generator) next(t *trade.Trade) {
	m, rng := g.m, g.rng

	i := m.pick.draw(rng)

	sigma := moveVol
	if rng.Float64() < jumpProb {
		sigma = jumpVol
	}
	lp := g.logPrice[i]
	lp += reversion*(m.logRef[i]-lp) + sigma*rng.NormFloat64()
	g.logPrice[i] = lp

	var volume float64
	switch u := rng.Float64(); {
	case u < m.oddLot[i]:
		volume = float64(1 + rng.IntN(99))
	case u < m.oddLot[i]+blockProb:
		volume = float64(1000 + 100*rng.IntN(91))
	default:
		volume = 100 * roundLots[rng.IntN(len(roundLots))]
	}

	// The interval is drawn in both clock modes, so that a seed gives the
	// same symbols, prices and volumes with or without a pinned Start.
	gap := time.Duration(max(1, math.Round(rng.ExpFloat64()*meanGapMicros))) * time.Microsecond
	var at time.Time
	if g.pinned {
		at = g.at
		g.at = g.at.Add(gap)
	} else {
		at = g.now().UTC()
	}

	g.seq++
	g.id = strconv.AppendInt(g.id[:g.prefix], g.seq, 10)
	*t = trade.Trade{
		ID:     string(g.id),
		Symbol: m.symbols[i],
		Price:  roundToTick(math.Exp(lp)),
		Volume: volume,
		Time:   at,
	}
}

// roundToTick rounds a price to its tick, 0.01 from 1 up and 0.0001 below,
// never below one tick and never above trade.MaxPrice.
func roundToTick(p float64) float64 {
	if p >= 1 {
		return min(math.Round(p*100)/100, trade.MaxPrice)
	}
	return max(math.Round(p*1e4)/1e4, 1e-4)
}

// alias draws indexes with probability proportional to fixed weights in
// constant time (Vose's alias method).
type alias struct {
	prob  []float64
	alias []int
}

// newAlias builds the table for weights, which must be positive and finite.
func newAlias(weights []float64) alias {
	n := len(weights)
	a := alias{prob: make([]float64, n), alias: make([]int, n)}
	var sum float64
	for _, w := range weights {
		sum += w
	}
	scaled := make([]float64, n)
	var small, large []int
	for i, w := range weights {
		scaled[i] = w * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small, large = small[:len(small)-1], large[:len(large)-1]
		a.prob[s], a.alias[s] = scaled[s], l
		scaled[l] += scaled[s] - 1
		if scaled[l] < 1 {
			small = append(small, l)
		} else {
			large = append(large, l)
		}
	}
	// What is left holds probability 1, up to rounding.
	for _, i := range append(small, large...) {
		a.prob[i], a.alias[i] = 1, i
	}
	return a
}

func (a *alias) draw(rng *rand.Rand) int {
	i := rng.IntN(len(a.prob))
	if rng.Float64() < a.prob[i] {
		return i
	}
	return a.alias[i]
}

// pacer turns readings of a clock into the number of trades due at a rate,
// carrying fractions over and counting at most MaxCatchUp of any interval, so
// that a stall is followed by a bounded burst.
type pacer struct {
	rate   float64 // trades per second
	credit float64 // the fraction of a trade carried over, in [0, 1)
	last   time.Time
}

func newPacer(rate float64, start time.Time) *pacer {
	return &pacer{rate: rate, last: start}
}

// due returns how many trades to make at now. A clock that steps back
// restarts the schedule from now. After a stall it makes up at most
// MaxCatchUp worth of trades, or one trade when that is less.
func (p *pacer) due(now time.Time) int {
	d := now.Sub(p.last)
	p.last = now
	if d <= 0 {
		return 0
	}
	p.credit += min(p.rate*d.Seconds(), max(p.rate*MaxCatchUp.Seconds(), 1))
	// A credit a rounding short of a whole trade is that trade: the wait
	// next computed was for it.
	n := math.Floor(p.credit + 1e-9)
	p.credit = max(p.credit-n, 0)
	return int(n)
}

// next returns how long to sleep before the next call to due: until the
// next trade is due, but at least tickInterval, so that a fast pace comes
// in bursts and a slow one costs one wake-up per trade.
func (p *pacer) next() time.Duration {
	wait := time.Duration(math.Ceil((1 - p.credit) / p.rate * float64(time.Second)))
	return max(wait, tickInterval)
}
