package monitor

import (
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tradetop/tradetop/state"
)

// Health is one stage's state: ok, slow, down, or paused or stopped on
// purpose.
type Health int

const (
	Healthy Health = iota
	Slow
	Down
	Paused
	Stopped
	// Elsewhere is a stage another process of the group runs: the feed of
	// a processor, the aggregation and store of an ingest process.
	Elsewhere
)

// Healths are every Health, in order.
var Healths = [...]Health{Healthy, Slow, Down, Paused, Stopped, Elsewhere}

func (h Health) String() string {
	return [...]string{"ok", "slow", "down", "paused", "stopped", "elsewhere"}[h]
}

// Thresholds of the stage health.
const (
	// StallAfter is how long a stage with work waiting may make no progress
	// before it is down. Every stage moves several times a second when
	// healthy: batches are cut every 50ms and lag is read every second.
	StallAfter = 5 * time.Second
	// recentFor is how long a retry or a Kafka warning keeps a stage slow.
	recentFor = 10 * time.Second
	// BehindAfter is how old the oldest unread message may get before the
	// processing stage is slow: it reads a batch every 50ms, so seconds of
	// backlog mean it is not keeping up.
	BehindAfter = 2 * time.Second
)

// StageNames are the stages, in pipeline order.
var StageNames = [...]string{"feed", "kafka", "agg", "store"}

// healthTracker notices when each stage last made progress or retried. It is
// owned by the model's goroutine and reads time only from the snapshots.
type healthTracker struct {
	prev                       *state.Snapshot
	produced, consumed, stored time.Time // last progress
	produceRetry, storeRetry   time.Time // last retry
	started                    time.Time
	stages                     [len(StageNames)]Health
	reasons                    [len(StageNames)]string
}

// observe updates the tracker with a new snapshot and judges the stages.
// sum is the lag pane's summary of the same snapshot; draining says the
// feed was stopped on purpose, or has ended.
func (h *healthTracker) observe(s *state.Snapshot, sum Summary, draining bool) {
	t := s.Time
	if h.prev == nil {
		h.produced, h.consumed, h.stored, h.started = t, t, t, t
	} else {
		p := h.prev
		if s.Produced != p.Produced {
			h.produced = t
		}
		if s.Consumed != p.Consumed {
			h.consumed = t
		}
		if s.StoredTrades != p.StoredTrades {
			h.stored = t
		}
		if s.ProduceRetries > p.ProduceRetries {
			h.produceRetry = t
		}
		if s.StoreRetries > p.StoreRetries {
			h.storeRetry = t
		}
	}
	h.prev = s
	recent := func(at time.Time) bool { return !at.IsZero() && t.Sub(at) < recentFor }

	ago := func(at time.Time) string { return t.Sub(at).Round(time.Second).String() }

	held := func(at time.Time) string {
		return "held back " + ago(at) + " by the " + s.Bound + " bound: " + strconv.FormatInt(s.BoundUsed, 10) + " of " + strconv.FormatInt(s.BoundLimit, 10)
	}
	// feed: the source through the producer into Kafka.
	switch {
	case s.Role == "process":
		h.set(0, Elsewhere, "this process runs the process role: the feed runs in the ingest process")
	case draining:
		h.set(0, Stopped, "the feed has stopped")
	case s.Paused:
		h.set(0, Paused, "the feed is paused")
	case t.Sub(h.produced) > StallAfter && s.Holding:
		h.set(0, Slow, held(h.produced))
	case t.Sub(h.produced) > StallAfter:
		h.set(0, Down, "nothing produced for "+ago(h.produced))
	case recent(h.produceRetry):
		h.set(0, Slow, "a Kafka write was retried "+ago(h.produceRetry)+" ago")
	default:
		h.set(0, Healthy, "")
	}

	// kafka: the broker, as seen by the producer, the lag reads and the
	// clients' warnings.
	switch {
	case !s.KafkaDownSince.IsZero():
		h.set(1, Down, "failing for "+ago(s.KafkaDownSince))
	case s.LagTime.IsZero() && t.Sub(h.started) > 2*StallAfter:
		h.set(1, Down, "no lag read in "+ago(h.started))
	case !s.LagTime.IsZero() && t.Sub(s.LagTime) > 2*StallAfter:
		h.set(1, Down, "no lag read for "+ago(s.LagTime))
	case !s.LagTime.IsZero() && t.Sub(s.LagTime) > 3*time.Second:
		h.set(1, Slow, "the last lag read is "+ago(s.LagTime)+" old")
	case recent(lastEvent(s.Events, "kafka")):
		h.set(1, Slow, "a Kafka warning "+ago(lastEvent(s.Events, "kafka"))+" ago")
	default:
		h.set(1, Healthy, "")
	}

	if s.Role == "ingest" {
		why := "this process runs the ingest role: the group's processors aggregate and store"
		h.set(2, Elsewhere, why)
		h.set(3, Elsewhere, why)
		return
	}

	// agg: the consumer group and the aggregation.
	switch {
	case s.Unread > 0 && t.Sub(h.consumed) > StallAfter:
		h.set(2, Down, "nothing read for "+ago(h.consumed)+" with messages unread")
	case sum.Reading && sum.Oldest > BehindAfter:
		h.set(2, Slow, "the oldest unread message is "+sum.Oldest.Round(time.Second).String()+" old")
	default:
		h.set(2, Healthy, "")
	}

	// store: trades consumed but not yet durable.
	pending := s.Consumed - s.Bad - s.StoredTrades
	switch {
	case !s.StoreDownSince.IsZero():
		h.set(3, Down, "failing for "+ago(s.StoreDownSince))
	case pending > 0 && t.Sub(h.stored) > StallAfter:
		h.set(3, Down, "nothing stored for "+ago(h.stored)+" with trades waiting")
	case recent(h.storeRetry):
		h.set(3, Slow, "a write was retried "+ago(h.storeRetry)+" ago")
	default:
		h.set(3, Healthy, "")
	}
}

func (h *healthTracker) set(stage int, v Health, reason string) {
	h.stages[stage], h.reasons[stage] = v, reason
}

// lastEvent is the time of the newest warning or error whose source starts
// with prefix; a recovery is no sign of trouble.
func lastEvent(events []state.Event, prefix string) time.Time {
	var at time.Time
	for _, e := range events {
		if e.Level >= slog.LevelWarn && strings.HasPrefix(e.Source, prefix) && e.Time.After(at) {
			at = e.Time
		}
	}
	return at
}
