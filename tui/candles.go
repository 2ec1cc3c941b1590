package tui

import (
	"context"
	"errors"
	"slices"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/pipeline"
)

// candleQuery is a read of a symbol's stored candles for the detail
// screen: the newest (live), a screen of them before a time, or a screen
// from a time on. Any stored range can be read, not only this run's.
type candleQuery struct {
	symbol   string
	interval time.Duration
	n        int       // candles wanted: one screen
	dir      int       // 0: the newest n; -1: the n before at; +1: the n from at
	at       time.Time // for dir ±1
	now      time.Time // the UI's clock, where going forward stops
	seq      int       // the detail's request count, to drop stale answers
}

// candleRanger is a Source that reads a symbol's stored candles of any
// range, as *pipeline.Pipeline does: those whose start lies in [from, to),
// oldest first, not only this run's. It reads the store, so the UI calls
// it only from a tea.Cmd. Without it the detail shows the newest candles
// only.
type candleRanger interface {
	Candles(ctx context.Context, symbol string, interval time.Duration, from, to time.Time) ([]agg.Candle, error)
}

var _ candleRanger = (*pipeline.Pipeline)(nil)

// errNoRanges says the source reads only the newest candles.
var errNoRanges = errors.New("this source reads only the newest candles")

// candlesMsg carries the stored candles a candleQuery read. A forward read
// that reached the present comes back as a live one (dir 0).
type candlesMsg struct {
	q       candleQuery
	candles []agg.Candle
	err     error
}

// Limits of a candle read.
const (
	// candleTimeout bounds one read of the store.
	candleTimeout = 5 * time.Second
	// maxLookback is how far back, or forward, a read looks past times
	// with nothing stored (a night, a weekend, the time between runs).
	maxLookback = 366 * 24 * time.Hour
)

// readCandles reads the candles q asks for, off the program's goroutine.
func readCandles(src Source, q candleQuery) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), candleTimeout)
		defer cancel()
		cs, q, err := q.read(ctx, src)
		return candlesMsg{q: q, candles: cs, err: err}
	}
}

// read reads the store. A screen before or after a time skips spans with
// nothing stored: it reads a screen's span, and while that holds fewer
// than n candles, four times the span, up to maxLookback.
func (q candleQuery) read(ctx context.Context, src Source) ([]agg.Candle, candleQuery, error) {
	if q.dir == 0 {
		cs, err := src.RecentCandles(ctx, q.symbol, q.interval, q.n)
		return cs, q, err
	}
	ranger, ok := src.(candleRanger)
	if !ok {
		return nil, q, errNoRanges
	}
	span := time.Duration(q.n) * q.interval
	for {
		span = min(span, maxLookback)
		from, to := q.at.Add(-span), q.at
		if q.dir > 0 {
			from, to = q.at, q.at.Add(span)
		}
		cs, err := ranger.Candles(ctx, q.symbol, q.interval, from, to)
		if err != nil {
			return nil, q, err
		}
		switch {
		case q.dir > 0 && len(cs) < q.n && !to.Before(q.now):
			// The screen reaches the present: that is the live view.
			q.dir = 0
			cs, err := src.RecentCandles(ctx, q.symbol, q.interval, q.n)
			return cs, q, err
		case len(cs) >= q.n || span >= maxLookback:
			if q.dir < 0 {
				return slices.Clone(cs[max(len(cs)-q.n, 0):]), q, nil
			}
			return slices.Clone(cs[:min(len(cs), q.n)]), q, nil
		}
		span *= 4
	}
}
