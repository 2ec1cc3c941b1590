package pipeline

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/trade"
)

// Pause holds the feed: the source's next trade waits until Resume. What was
// already produced keeps flowing through Kafka into the store, so a paused
// pipeline drains. A rate-paced source resumes with a bounded burst. Pause,
// Resume and Paused may be called from any goroutine.
func (p *Pipeline) Pause() {
	if p.cfg.Role.Ingests() {
		p.gate.set(true)
	}
}

// A process of RoleProcess has no feed: Pause and Resume do nothing.

// Resume lets the feed go on after Pause.
func (p *Pipeline) Resume() { p.gate.set(false) }

// Paused reports whether the feed is held by Pause.
func (p *Pipeline) Paused() bool { return p.gate.closed() }

// RecentCandles returns at most n of the symbol's latest stored candles of
// the interval, oldest first. It reads the store and may be called from any
// goroutine; callers that must not block call it from their own.
func (p *Pipeline) RecentCandles(ctx context.Context, symbol string, interval time.Duration, n int) ([]agg.Candle, error) {
	if p.cfg.Store == nil {
		return nil, ErrNoStore
	}
	return p.cfg.Store.RecentCandles(ctx, symbol, interval, n)
}

// Candles returns the symbol's stored candles of the interval whose start
// lies in [from, to), oldest first: any stored range, not only this run's. It
// reads the store and may be called from any goroutine.
func (p *Pipeline) Candles(ctx context.Context, symbol string, interval time.Duration, from, to time.Time) ([]agg.Candle, error) {
	if p.cfg.Store == nil {
		return nil, ErrNoStore
	}
	return p.cfg.Store.Candles(ctx, symbol, interval, from, to)
}

// ErrNoStore is returned by the store reads of a process that runs the
// ingest role, which has no store.
var ErrNoStore = errors.New("this process runs the ingest role and has no store: ask a processor")

// ErrFixedRate is returned by SetRate when the source's pace cannot change.
var ErrFixedRate = errors.New("the source's pace is fixed")

// SetRate changes the pace of a source that has one (the synthetic market),
// in trades per second; 0 means as fast as the pipeline takes them. It may be
// called from any goroutine; the next snapshot shows the new rate.
func (p *Pipeline) SetRate(rate float64) error {
	pc, ok := feed.As[feed.Pacer](p.cfg.Source)
	if !ok {
		return ErrFixedRate
	}
	return pc.SetRate(rate)
}

// rate is the source's pace and whether it has one that SetRate changes.
func (p *Pipeline) rate() (float64, bool) {
	pc, ok := feed.As[feed.Pacer](p.cfg.Source)
	if !ok {
		return 0, false
	}
	return pc.Rate(), true
}

// gate is a door the feed passes through: closed, it waits. It counts how
// often and how long it was closed, for the summary.
type gate struct {
	mu     sync.Mutex
	open   chan struct{} // nil while open; closed by set(false)
	shut   time.Time     // when it was closed
	closes int64
	held   time.Duration // closed before shut
}

func (g *gate) set(shut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case shut && g.open == nil:
		g.open = make(chan struct{})
		g.shut = time.Now()
		g.closes++
	case !shut && g.open != nil:
		close(g.open)
		g.open = nil
		g.held += time.Since(g.shut)
	}
}

// pauses is how often the gate was closed, and for how long in all.
func (g *gate) pauses() (n int64, held time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	held = g.held
	if g.open != nil {
		held += time.Since(g.shut)
	}
	return g.closes, held
}

func (g *gate) closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open != nil
}

// wait returns at once when the gate is open, else when it opens or ctx is
// done.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tapeLen is how many of the latest trades a snapshot carries.
const tapeLen = 64

// tape keeps the latest acknowledged trades in a ring.
type tape struct {
	mu   sync.Mutex
	ring [tapeLen]trade.Trade
	n    int // trades ever added
}

// add records the trades of buf, oldest first.
func (t *tape) add(buf []trade.Trade) {
	if len(buf) > tapeLen {
		buf = buf[len(buf)-tapeLen:]
	}
	t.mu.Lock()
	for i := range buf {
		t.ring[t.n%tapeLen] = buf[i]
		t.n++
	}
	t.mu.Unlock()
}

// latest returns the recorded trades, newest first.
func (t *tape) latest() []trade.Trade {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := min(t.n, tapeLen)
	out := make([]trade.Trade, k)
	for i := range k {
		out[i] = t.ring[(t.n-1-i)%tapeLen]
	}
	return out
}
