package pipeline

import (
	"sync"
	"sync/atomic"
	"time"
)

// beatTrades is how many trades a beat carries at the shortest beat and the
// default rate (1,000 trades/s on a 50 ms beat). As the feed slows, the beat
// lengthens so that each still carries about as many, up to the latency
// budget: a quiet feed costs a produce request, a fetch and a store write
// per beatTrades trades, not per trade.
const beatTrades = 50

// paceWindow is how long a rate is measured over before the beat may
// lengthen. It may shorten as soon as a shorter window shows the rate rose.
const paceWindow = time.Second

// pace is the pipeline's beat, which follows the load: Config.BatchInterval
// while a beat of it carries beatTrades trades or more, and twice, four
// times... as long as the rate falls, up to Config.MaxBatchInterval. The
// producer and the partitions read the same beat, so they cut together.
type pace struct {
	min, max time.Duration
	// produced and read count the trades the pipeline handled so far;
	// the rate is that of whichever moved more.
	produced, read *atomic.Int64

	beat atomic.Int64 // the current beat, in ns

	mu       sync.Mutex
	at       time.Time // start of the window being measured
	fromProd int64     // produced at its start
	fromRead int64     // read at its start
}

func newPace(shortest, longest time.Duration, produced, read *atomic.Int64) *pace {
	pc := &pace{min: shortest, max: max(shortest, longest), produced: produced, read: read}
	pc.beat.Store(int64(shortest))
	return pc
}

// current returns the beat without measuring.
func (pc *pace) current() time.Duration { return time.Duration(pc.beat.Load()) }

// every returns the beat at now, measuring the rate since the last window.
func (pc *pace) every(now time.Time) time.Duration {
	if pc.max == pc.min {
		return pc.min
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	cur := time.Duration(pc.beat.Load())
	prod, read := pc.produced.Load(), pc.read.Load()
	if pc.at.IsZero() || now.Before(pc.at) {
		pc.at, pc.fromProd, pc.fromRead = now, prod, read
		return cur
	}
	elapsed := now.Sub(pc.at)
	// Long enough to trust the rate: a full window, or a beat in which
	// the rate says a shorter beat is due.
	if elapsed < min(cur, paceWindow) {
		return cur
	}
	n := max(prod-pc.fromProd, read-pc.fromRead)
	next := pc.fit(float64(n) / elapsed.Seconds())
	if next < cur || elapsed >= paceWindow {
		pc.beat.Store(int64(next))
		pc.at, pc.fromProd, pc.fromRead = now, prod, read
		return next
	}
	return cur
}

// fit is the longest beat, doubling from min and at most max, in which
// trades at rate (per second) fill at most beatTrades.
func (pc *pace) fit(rate float64) time.Duration {
	b := pc.min
	for b < pc.max {
		next := min(b*2, pc.max)
		if rate*next.Seconds() > beatTrades {
			break
		}
		b = next
	}
	return b
}
