package pipeline

import (
	"fmt"
	"sync"
	"time"
)

// outage tracks whether a system the pipeline depends on (Kafka, the store)
// is reachable, from the results of the calls its probes make: the producer
// and the lag reads for Kafka, the writer for the store. The system is down
// from the first failure of any probe until every probe that failed has
// succeeded again. An outage is one warning when it starts and one line
// when it ends, however many retries it took; the retries are counted by
// the callers.
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
