package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// outage tracks whether a system the pipeline depends on (Kafka, the store)
// is reachable, from the results of the calls its probes make: the producer
// and the lag reads for Kafka, the writer for the store. The system is down
// from the first failure of any probe until every probe that failed has
// succeeded again. An outage is one warning when it starts and one line
// when it ends, however many retries it took. Any goroutine may call its
// methods.
type outage struct {
	name string // "kafka", "store": the source of its events
	errs *errorLog

	mu      sync.Mutex
	failing map[string]bool // probes whose last call failed
	since   time.Time       // start of the current outage; zero when up
	tries   int             // failed calls since
}

func newOutage(name string, errs *errorLog) *outage {
	return &outage{name: name, errs: errs, failing: map[string]bool{}}
}

// fail records a failed call of probe. The first failure of an outage is
// logged as "<name> down" with its error, at warning level, and shown as an
// event.
func (o *outage) fail(probe string, err error) {
	now := o.errs.clock()
	o.mu.Lock()
	o.failing[probe] = true
	o.tries++
	first := o.since.IsZero()
	if first {
		o.since = now
	}
	o.mu.Unlock()
	if first {
		o.errs.warn(o.name+" down", fmt.Errorf("%w (retrying until it is back)", err))
	}
}

// ok records a successful call of probe. When it ends an outage, it logs
// "<name> is back" with how long it lasted and how many calls failed.
func (o *outage) ok(probe string) {
	o.mu.Lock()
	if !o.failing[probe] {
		o.mu.Unlock()
		return
	}
	delete(o.failing, probe)
	if len(o.failing) > 0 {
		o.mu.Unlock()
		return
	}
	lasted := o.errs.clock().Sub(o.since).Round(time.Millisecond)
	tries := o.tries
	o.since, o.tries = time.Time{}, 0
	o.mu.Unlock()
	if o.errs.log != nil {
		o.errs.log.Info(o.name+" is back", "after", lasted, "failed_calls", tries)
	}
	o.errs.event(o.name, fmt.Sprintf("%s is back after %s and %d failed calls", o.name, lasted, tries))
}

// downSince is when the current outage started, or zero when the system is
// up.
func (o *outage) downSince() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.since
}

// retry calls call, as probe, until it succeeds or ctx is done, waiting
// with backoff between calls. Every failure while ctx lasts is an error
// and one of retries, and fails the probe; the success that ends a run of
// them ends the outage. It returns nil or ctx.Err().
func (o *outage) retry(ctx context.Context, probe string, retries *atomic.Int64, call func() error) error {
	b := newBackoff()
	for {
		err := call()
		if err == nil {
			o.ok(probe)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.errs.total.Add(1)
		retries.Add(1)
		o.fail(probe, err)
		if !b.wait(ctx) {
			return ctx.Err()
		}
	}
}

// backoff waits exponentially longer between retries, from 100ms to 5s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

// wait sleeps for the current delay and doubles it. It returns false, at
// once, when ctx is done first.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(2*b.d, 5*time.Second)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
