package tui

import (
	"log/slog"
	"strings"
	"time"

	"github.com/tradetop/tradetop/state"
)

// health is one stage's state as the header shows it: a dot and a word.
type health int

const (
	healthOK health = iota
	healthSlow
	healthDown
	healthPaused
	healthStopped
)

func (h health) String() string {
	return [...]string{"ok", "slow", "down", "paused", "stopped"}[h]
}

// Thresholds of the stage health.
const (
	// stallAfter is how long a stage with work waiting may make no progress
	// before it is down. Every stage moves several times a second when
	// healthy: batches are cut every 50ms and lag is read every second.
	stallAfter = 5 * time.Second
	// recentFor is how long a retry or a Kafka warning keeps a stage slow.
	recentFor = 10 * time.Second
	// behindAfter is how old the oldest unread message may get before the
	// processing stage is slow: it reads a batch every 50ms, so seconds of
	// backlog mean it is not keeping up.
	behindAfter = 2 * time.Second
)

// stage names, in pipeline order.
var stageNames = [...]string{"feed", "kafka", "agg", "store"}

// healthTracker notices when each stage last made progress or retried. It is
// owned by the model's goroutine and reads time only from the snapshots.
type healthTracker struct {
	prev                       *state.Snapshot
	produced, consumed, stored time.Time // last progress
	produceRetry, storeRetry   time.Time // last retry
	started                    time.Time
	stages                     [len(stageNames)]health
}

// observe updates the tracker with a new snapshot and judges the stages.
// sum is the lag pane's summary of the same snapshot; draining says the
// feed was stopped on purpose, or has ended.
func (h *healthTracker) observe(s *state.Snapshot, sum lagSummary, draining bool) {
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

	// feed: the source through the producer into Kafka.
	switch {
	case draining:
		h.stages[0] = healthStopped
	case s.Paused:
		h.stages[0] = healthPaused
	case t.Sub(h.produced) > stallAfter:
		h.stages[0] = healthDown
	case recent(h.produceRetry):
		h.stages[0] = healthSlow
	default:
		h.stages[0] = healthOK
	}

	// kafka: the broker, as seen by the producer, the lag reads and the
	// clients' warnings.
	switch {
	case !s.KafkaDownSince.IsZero(),
		s.LagTime.IsZero() && t.Sub(h.started) > 2*stallAfter,
		!s.LagTime.IsZero() && t.Sub(s.LagTime) > 2*stallAfter:
		h.stages[1] = healthDown
	case !s.LagTime.IsZero() && t.Sub(s.LagTime) > 3*time.Second,
		recent(lastEvent(s.Events, "kafka")):
		h.stages[1] = healthSlow
	default:
		h.stages[1] = healthOK
	}

	// agg: the consumer group and the aggregation.
	switch {
	case s.Unread > 0 && t.Sub(h.consumed) > stallAfter:
		h.stages[2] = healthDown
	case sum.reading && sum.oldest > behindAfter:
		h.stages[2] = healthSlow
	default:
		h.stages[2] = healthOK
	}

	// store: trades consumed but not yet durable.
	pending := s.Consumed - s.Bad - s.StoredTrades
	switch {
	case !s.StoreDownSince.IsZero(),
		pending > 0 && t.Sub(h.stored) > stallAfter:
		h.stages[3] = healthDown
	case recent(h.storeRetry):
		h.stages[3] = healthSlow
	default:
		h.stages[3] = healthOK
	}
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
