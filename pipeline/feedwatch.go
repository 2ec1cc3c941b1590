package pipeline

import (
	"errors"
	"fmt"

	"github.com/tradetop/tradetop/feed"
)

// ErrNoSubscriptions is returned by Subscribe and Unsubscribe when the
// source's symbols are fixed.
var ErrNoSubscriptions = errors.New("the source's symbols are fixed")

// Subscribe adds a symbol to a source that takes subscriptions, such as a
// live feed. It may be called from any goroutine.
func (p *Pipeline) Subscribe(symbol string) error {
	s, ok := feed.As[feed.Subscriber](p.cfg.Source)
	if !ok {
		return fmt.Errorf("subscribing to %s: %w", symbol, ErrNoSubscriptions)
	}
	return s.Subscribe(symbol)
}

// Unsubscribe removes a symbol from a source that takes subscriptions. It
// may be called from any goroutine.
func (p *Pipeline) Unsubscribe(symbol string) error {
	s, ok := feed.As[feed.Subscriber](p.cfg.Source)
	if !ok {
		return fmt.Errorf("unsubscribing from %s: %w", symbol, ErrNoSubscriptions)
	}
	return s.Unsubscribe(symbol)
}

// CanSubscribe reports whether the source takes subscriptions.
func (p *Pipeline) CanSubscribe() bool {
	_, ok := feed.As[feed.Subscriber](p.cfg.Source)
	return ok
}

// feedWatch turns the growth of a source's own counts into events. It is
// used by the monitor goroutine only.
type feedWatch struct {
	last feed.Report
}

// check reads the source's report, records what changed since the last
// check, and returns the report, or nil for a source that does not report.
func (w *feedWatch) check(src feed.Source, errs *errorLog) *feed.Report {
	rep, ok := feed.As[feed.Reporter](src)
	if !ok {
		return nil
	}
	r := rep.Report()
	if d := r.Bad - w.last.Bad; d > 0 {
		errs.warn("feed input", fmt.Errorf("%d bad input(s) skipped; the latest: %s", d, r.LastBad))
	}
	if d := r.Dropped - w.last.Dropped; d > 0 {
		errs.note("feed", fmt.Errorf("dropped %d trades: the pipeline is behind the live feed", d))
	}
	if r.LastError != "" && !r.LastErrorTime.Equal(w.last.LastErrorTime) {
		errs.warn("feed", errors.New(r.LastError))
	}
	if d := r.Reconnects - w.last.Reconnects; d > 0 {
		errs.event("feed", fmt.Sprintf("reconnected (%d in all)", r.Reconnects))
	}
	w.last = r
	return &r
}
