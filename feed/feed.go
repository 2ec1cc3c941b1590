// Package feed says what a source of trades is (Source, and the
// capabilities a source may have), provides the deterministic synthetic
// market, and the symbol universe that maps symbols to names, sectors and
// shares outstanding. The sources backed by an external system live in
// packages of their own: feed/finnhub (the live Finnhub websocket) and
// feed/replay (recorded or exported files). None of them knows of Kafka.
package feed

import (
	"context"
	"time"

	"github.com/tradetop/tradetop/trade"
)

// Source produces trades. Run calls emit for each trade, in order, from the
// calling goroutine, until the source is exhausted (it returns nil), ctx is
// done (it returns ctx.Err()), or emit returns an error (it returns that
// error). A blocking emit is backpressure: a generated or replayed source
// simply waits; a live source cannot make the market wait, so it drops what
// does not fit and counts it (see Reporter).
type Source interface {
	// Name describes the source for status lines ("synthetic seed=7").
	Name() string
	Run(ctx context.Context, emit func(trade.Trade) error) error
}

// Reporter is implemented by sources that meet trouble of their own: bad
// input, trades dropped because the pipeline was behind, a lost connection.
// Report may be called from any goroutine while Run runs.
type Reporter interface {
	Report() Report
}

// Report is a source's own counts since Run started. The pipeline turns
// their growth into events and shows them in the status line and the UI.
type Report struct {
	// Bad counts input the source rejected: malformed frames or lines,
	// trades with invalid fields. None of it is emitted.
	Bad int64
	// LastBad describes the latest bad input, with where it was (a line
	// number, a frame excerpt). It never holds a secret.
	LastBad string
	// Dropped counts trades a live source could not hand on because emit
	// was blocked.
	Dropped int64
	// Reconnects counts connections re-established after a loss.
	Reconnects int64
	// Connected says a live source is connected now; always true for other
	// sources.
	Connected bool
	// LastError describes the latest connection problem, "" when none. It
	// never holds a secret.
	LastError string
	// LastErrorTime is when LastError happened.
	LastErrorTime time.Time
}

// Pacer is implemented by sources whose pace can change while they run, such
// as the synthetic market. Rate and SetRate may be called from any
// goroutine; a new rate takes effect within one pacing tick.
type Pacer interface {
	// Rate is the pace in trades per second; 0 means no pacing (as fast
	// as emit takes them).
	Rate() float64
	// SetRate changes the pace; 0 means no pacing. It returns an error for
	// a rate the source cannot take.
	SetRate(rate float64) error
}

// Wrapper is implemented by sources that run another source (a recording
// of it, say) and pass its capabilities on.
type Wrapper interface {
	// Unwrap returns the source this one runs.
	Unwrap() Source
}

// As finds the first source in src's chain of wrappers that implements T
// (Reporter, Subscriber, Pacer), as errors.As finds an error.
func As[T any](src Source) (T, bool) {
	for src != nil {
		if t, ok := src.(T); ok {
			return t, true
		}
		w, ok := src.(Wrapper)
		if !ok {
			break
		}
		src = w.Unwrap()
	}
	var zero T
	return zero, false
}

// Subscriber is implemented by sources whose symbols can change while they
// run. Subscribe and Unsubscribe may be called from any goroutine; they
// return an error for a symbol the source cannot take (malformed, or not
// subscribed when unsubscribing), and take effect asynchronously.
type Subscriber interface {
	Subscribe(symbol string) error
	Unsubscribe(symbol string) error
	// Symbols returns the symbols subscribed now, sorted.
	Symbols() []string
}

// MaxCatchUp is the most a paced source makes up at once after a stall (a
// blocking emit): the synthetic feed emits at most MaxCatchUp worth of
// trades, a replay at most MaxCatchUp of event time. The rest of the backlog
// is dropped from the schedule, not from the sequence: no trade is skipped.
const MaxCatchUp = 100 * time.Millisecond

// CtxCheckEvery is how many trades a generated or replayed source may hand
// on between two looks at ctx.Done: a cancelled Run returns within that many
// trades when emit takes them at once.
const CtxCheckEvery = 64

// Sleep waits for d, or until ctx is done, when it returns ctx.Err(). A
// source waits with it (for its pace, before reconnecting) so that a
// cancelled Run returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
