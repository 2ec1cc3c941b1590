package monitor

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
	ok := [4]Health{Healthy, Healthy, Healthy, Healthy}
	tests := []struct {
		name     string
		change   func(prev, cur *state.Snapshot)
		sum      Summary
		draining bool
		want     [4]Health
	}{
		{"all moving", nil, Summary{}, false, ok},
		{"feed produces nothing", func(p, c *state.Snapshot) { c.Produced = p.Produced }, Summary{}, false,
			[4]Health{Down, Healthy, Healthy, Healthy}},
		{"feed paused", func(p, c *state.Snapshot) { c.Produced, c.Paused = p.Produced, true }, Summary{}, false,
			[4]Health{Paused, Healthy, Healthy, Healthy}},
		{"draining", nil, Summary{}, true, [4]Health{Stopped, Healthy, Healthy, Healthy}},
		{"producer retries", func(p, c *state.Snapshot) { c.ProduceRetries = p.ProduceRetries + 1 }, Summary{}, false,
			[4]Health{Slow, Healthy, Healthy, Healthy}},
		{"no lag read for long", func(_, c *state.Snapshot) { c.LagTime = c.Time.Add(-30 * time.Second) }, Summary{}, false,
			[4]Health{Healthy, Down, Healthy, Healthy}},
		{"kafka down", func(_, c *state.Snapshot) { c.KafkaDownSince = c.Time.Add(-time.Second) }, Summary{}, false,
			[4]Health{Healthy, Down, Healthy, Healthy}},
		{"store down", func(_, c *state.Snapshot) { c.StoreDownSince = c.Time.Add(-time.Second) }, Summary{}, false,
			[4]Health{Healthy, Healthy, Healthy, Down}},
		{"feed held back by its bound", func(p, c *state.Snapshot) {
			c.Produced, c.Holding, c.Bound, c.BoundUsed, c.BoundLimit = p.Produced, true, state.BoundGroupLag, 500000, 500000
		}, Summary{}, false, [4]Health{Slow, Healthy, Healthy, Healthy}},
		{"an ingest process", func(_, c *state.Snapshot) { c.Role = "ingest" }, Summary{}, false,
			[4]Health{Healthy, Healthy, Elsewhere, Elsewhere}},
		{"a processor", func(p, c *state.Snapshot) { c.Role, c.Produced = "process", 0 }, Summary{}, false,
			[4]Health{Elsewhere, Healthy, Healthy, Healthy}},
		{"a Kafka warning", func(_, c *state.Snapshot) {
			c.Events = []state.Event{{Time: c.Time.Add(-2 * time.Second), Level: slog.LevelWarn, Source: "kafka", Message: "rebalance"}}
		}, Summary{}, false, [4]Health{Healthy, Slow, Healthy, Healthy}},
		{"a Kafka recovery", func(_, c *state.Snapshot) {
			c.Events = []state.Event{{Time: c.Time.Add(-2 * time.Second), Level: slog.LevelInfo, Source: "kafka", Message: "broker is back"}}
		}, Summary{}, false, ok},
		{"consumer stuck with work", func(p, c *state.Snapshot) { c.Consumed, c.StoredTrades = p.Consumed, p.Consumed }, Summary{}, false,
			[4]Health{Healthy, Healthy, Down, Healthy}},
		{"consumer behind", nil, Summary{Reading: true, Oldest: 5 * time.Second, OldestKnown: true}, false,
			[4]Health{Healthy, Healthy, Slow, Healthy}},
		{"store stuck", func(p, c *state.Snapshot) { c.StoredTrades = p.StoredTrades }, Summary{}, false,
			[4]Health{Healthy, Healthy, Healthy, Down}},
		{"store retries", func(p, c *state.Snapshot) { c.StoreRetries = p.StoreRetries + 2 }, Summary{}, false,
			[4]Health{Healthy, Healthy, Healthy, Slow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h healthTracker
			prev := base(10)
			h.observe(prev, Summary{}, false)
			// Six seconds on, past StallAfter.
			cur := base(16)
			if tt.change != nil {
				tt.change(prev, cur)
			}
			h.observe(cur, tt.sum, tt.draining)
			if h.stages != tt.want {
				t.Errorf("stages %v, want %v", h.stages, tt.want)
			}
			for i, v := range h.stages {
				if (v == Healthy) != (h.reasons[i] == "") {
					t.Errorf("%s %v with reason %q: want a reason exactly when not ok", StageNames[i], v, h.reasons[i])
				}
			}
		})
	}
}
