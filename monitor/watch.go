package monitor

import (
	"context"
	"sync"

	"github.com/tradetop/tradetop/state"
)

// Watcher runs one Monitor over a pipeline's snapshots as they are
// published, so that every view of the process (the headless status line,
// the metrics, the alerts) reads the same judgement. Latest may be called
// from any goroutine.
type Watcher struct {
	mu   sync.Mutex
	snap *state.Snapshot
	rep  *Report
}

// Watch judges each new snapshot that snapshot returns, looking each time
// wake fires (the publisher's signal that there may be one), until ctx is
// done. The feed counts as stopped once a snapshot
// says it is draining. judged, unless nil, is then given each snapshot
// judged and its report, once, in order, on the watcher's goroutine (the
// first maybe on the caller's, within Watch): it must not block, nor call
// Latest.
func Watch(ctx context.Context, snapshot func() *state.Snapshot, wake <-chan struct{}, judged func(*state.Snapshot, *Report)) *Watcher {
	w := &Watcher{}
	m := New()
	look := func() {
		s := snapshot()
		if s == nil {
			return
		}
		w.mu.Lock()
		if s == w.snap {
			w.mu.Unlock()
			return
		}
		r := m.Observe(s, s.Draining)
		w.snap, w.rep = s, r
		w.mu.Unlock()
		if judged != nil {
			judged(s, r)
		}
	}
	look()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
				look()
			}
		}
	}()
	return w
}

// Latest returns the newest snapshot judged and its report; nil and nil
// before the first.
func (w *Watcher) Latest() (*state.Snapshot, *Report) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.snap, w.rep
}
