package tui

import (
	"log/slog"
	"testing"
	"time"

	"github.com/tradetop/tradetop/state"
)

func TestStageHealth(t *testing.T) {
	// base is a healthy pipeline at second sec: everything moves.
	base := func(sec int) *state.Snapshot {
		now := t0.Add(time.Duration(sec) * time.Second)
		n := int64(1000 * sec)
		return &state.Snapshot{Time: now, Started: t0, LagTime: now.Add(-500 * time.Millisecond),
			Produced: n, Consumed: n - 10, StoredTrades: n - 20, Unread: 10}
	}
	ok := [4]health{healthOK, healthOK, healthOK, healthOK}
	tests := []struct {
		name     string
		change   func(prev, cur *state.Snapshot)
		sum      lagSummary
		draining bool
		want     [4]health
	}{
		{"all moving", nil, lagSummary{}, false, ok},
		{"feed produces nothing", func(p, c *state.Snapshot) { c.Produced = p.Produced }, lagSummary{}, false,
			[4]health{healthDown, healthOK, healthOK, healthOK}},
		{"feed paused", func(p, c *state.Snapshot) { c.Produced, c.Paused = p.Produced, true }, lagSummary{}, false,
			[4]health{healthPaused, healthOK, healthOK, healthOK}},
		{"draining", nil, lagSummary{}, true, [4]health{healthStopped, healthOK, healthOK, healthOK}},
		{"producer retries", func(p, c *state.Snapshot) { c.ProduceRetries = p.ProduceRetries + 1 }, lagSummary{}, false,
			[4]health{healthSlow, healthOK, healthOK, healthOK}},
		{"no lag read for long", func(_, c *state.Snapshot) { c.LagTime = c.Time.Add(-30 * time.Second) }, lagSummary{}, false,
			[4]health{healthOK, healthDown, healthOK, healthOK}},
		{"kafka down", func(_, c *state.Snapshot) { c.KafkaDownSince = c.Time.Add(-time.Second) }, lagSummary{}, false,
			[4]health{healthOK, healthDown, healthOK, healthOK}},
		{"store down", func(_, c *state.Snapshot) { c.StoreDownSince = c.Time.Add(-time.Second) }, lagSummary{}, false,
			[4]health{healthOK, healthOK, healthOK, healthDown}},
		{"a Kafka warning", func(_, c *state.Snapshot) {
			c.Events = []state.Event{{Time: c.Time.Add(-2 * time.Second), Level: slog.LevelWarn, Source: "kafka", Message: "rebalance"}}
		}, lagSummary{}, false, [4]health{healthOK, healthSlow, healthOK, healthOK}},
		{"a Kafka recovery", func(_, c *state.Snapshot) {
			c.Events = []state.Event{{Time: c.Time.Add(-2 * time.Second), Level: slog.LevelInfo, Source: "kafka", Message: "broker is back"}}
		}, lagSummary{}, false, ok},
		{"consumer stuck with work", func(p, c *state.Snapshot) { c.Consumed, c.StoredTrades = p.Consumed, p.Consumed }, lagSummary{}, false,
			[4]health{healthOK, healthOK, healthDown, healthOK}},
		{"consumer behind", nil, lagSummary{reading: true, oldest: 5 * time.Second, oldestKnown: true}, false,
			[4]health{healthOK, healthOK, healthSlow, healthOK}},
		{"store stuck", func(p, c *state.Snapshot) { c.StoredTrades = p.StoredTrades }, lagSummary{}, false,
			[4]health{healthOK, healthOK, healthOK, healthDown}},
		{"store retries", func(p, c *state.Snapshot) { c.StoreRetries = p.StoreRetries + 2 }, lagSummary{}, false,
			[4]health{healthOK, healthOK, healthOK, healthSlow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h healthTracker
			prev := base(10)
			h.observe(prev, lagSummary{}, false)
			// Six seconds on, past stallAfter.
			cur := base(16)
			if tt.change != nil {
				tt.change(prev, cur)
			}
			h.observe(cur, tt.sum, tt.draining)
			if h.stages != tt.want {
				t.Errorf("stages %v, want %v", h.stages, tt.want)
			}
		})
	}
}
