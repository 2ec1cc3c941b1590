package pipeline

import (
	"sync/atomic"
	"time"
)

// inFlight remembers the event times of the trades the feed handed over
// that Kafka has not acknowledged yet: one waiting at the pause gate or for
// room in the ingest queue, those in the queue, and the producer's batch.
// They leave in the order they came, so the oldest is the one after the
// last acknowledged. A quiet partition may close its windows by the wall
// clock only up to it: a trade held back (a pause, a Kafka outage, the
// in-flight bound) must not arrive late because of the wait.
//
// accept is called from the feed goroutine only; oldest from any.
type inFlight struct {
	times    []atomic.Int64 // event time in Unix ns, by acceptance number
	accepted atomic.Int64
}

// newInFlight returns a tracker for at most n trades in flight at once.
func newInFlight(n int) *inFlight {
	return &inFlight{times: make([]atomic.Int64, n)}
}

// accept records the next trade the feed hands over.
func (f *inFlight) accept(t time.Time) {
	n := f.accepted.Load()
	f.times[n%int64(len(f.times))].Store(t.UnixNano())
	f.accepted.Store(n + 1)
}

// oldest returns the event time of the oldest trade not yet acknowledged,
// given how many were, and false when every accepted trade was.
func (f *inFlight) oldest(acked int64) (time.Time, bool) {
	if f.accepted.Load() <= acked {
		return time.Time{}, false
	}
	return time.Unix(0, f.times[acked%int64(len(f.times))].Load()), true
}
