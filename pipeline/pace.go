package pipeline

import (
	"sync"
	"sync/atomic"
	"time"
)

// partitionBeatTrades is how many trades a beat carries, at most, for each
// partition it spreads over, unless it is the shortest beat. As the feed
// slows, the beat lengthens so that each still carries about as many, up
// to the latency budget: a produce request and a fetch carry a partition's
// trades of a beat, so a quiet feed costs them per partitionBeatTrades
// trades, not per trade, and a store write or a Cassandra batch per beat.
// On the embedded broker's 2 partitions the default rate, 1,000 trades/s,
// keeps the shortest beat, 50 ms; on 6 partitions it takes 200 ms.
const partitionBeatTrades = 40

// paceWindow is how long a rate is measured over before the beat may
// lengthen. It may shorten as soon as a shorter window shows a burst: more
// than twice the trades a beat is for.
const paceWindow = time.Second

// pace is the pipeline's beat, which follows the load: Config.BatchInterval
// while a beat of it carries more than partitionBeatTrades trades a
// partition, and twice, four times... as long as the rate falls, up to
// Config.MaxBatchInterval. The producer and the partitions read the same
// beat, so they cut together.
type pace struct {
	min, max time.Duration
	// produced and read count the trades the pipeline handled so far;
	// the rate is that of whichever moved more.
	produced, read *atomic.Int64
	// partitions is how many partitions those trades spread over.
	partitions func() int64

	beat atomic.Int64 // the current beat, in ns

	mu       sync.Mutex
	at       time.Time // start of the window being measured
	fromProd int64     // produced at its start
	fromRead int64     // read at its start
}

func newPace(shortest, longest time.Duration, produced, read *atomic.Int64, partitions func() int64) *pace {
	pc := &pace{min: shortest, max: max(shortest, longest), produced: produced, read: read, partitions: partitions}
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
	rate := float64(n) / elapsed.Seconds()
	next := pc.fit(rate)
	// Within a window, only a burst shortens the beat: a partition's
	// reads come in lumps, and a beat that shortened whenever one beat
	// held a little more would be shorter than the rate needs.
	burst := rate*cur.Seconds() > 2*pc.fill()
	if next < cur && burst || elapsed >= paceWindow {
		pc.beat.Store(int64(next))
		pc.at, pc.fromProd, pc.fromRead = now, prod, read
		return next
	}
	return cur
}

// fit is the longest beat, doubling from min and at most max, in which
// trades at rate (per second) fill at most partitionBeatTrades a partition.
func (pc *pace) fit(rate float64) time.Duration {
	fill := pc.fill()
	b := pc.min
	for b < pc.max {
		next := min(b*2, pc.max)
		if rate*next.Seconds() > fill {
			break
		}
		b = next
	}
	return b
}

// fill is how many trades a beat may carry before a shorter one is due.
func (pc *pace) fill() float64 {
	return float64(partitionBeatTrades * max(1, pc.partitions()))
}

// pacedPartitions is how many partitions the trades the pace measures
// spread over: the topic's while this process produces, else those its
// generation gave it, else the topic's.
func (p *Pipeline) pacedPartitions() int64 {
	if !p.cfg.Role.Ingests() {
		if gen := p.member.Load(); gen != nil && len(gen.Partitions) > 0 {
			return int64(len(gen.Partitions))
		}
	}
	return p.topicParts.Load()
}
