// Package monitor is tradetop's one judge of its pipeline: from the
// snapshots it is shown over time it says, per partition, a verdict in the
// spirit of Burrow (OK, WARN, STALL, STOP) and why, per stage (feed, kafka,
// agg, store) a health (ok, slow, down, paused, stopped) and why, how old
// the oldest unread message is and how long the backlog takes to drain.
// The terminal UI, the headless status line and the summary all show its
// verdicts, so that they tell one story. It reads time only from the
// snapshots, and imports neither the pipeline, nor Kafka, nor a store.
package monitor

import (
	"time"

	"github.com/tradetop/tradetop/state"
)

// Monitor judges one pipeline from its snapshots, in order. It is not safe
// for concurrent use.
type Monitor struct {
	lag    *lagTracker
	health healthTracker
}

// New returns a monitor that has seen nothing yet.
func New() *Monitor { return &Monitor{lag: newLagTracker()} }

// Partition is one partition of the topic as the monitor judges it.
type Partition struct {
	ID                  int
	End, Committed, Lag int64 // Committed is -1 when the group has none
	// Unread is how many messages this instance has not read yet; -1
	// when it does not read the partition.
	Unread int64
	// In and Read are messages per second arriving and read by this
	// instance (-1 when it does not read the partition).
	In, Read float64
	Verdict  Verdict
	Reason   string // why, when not OK
	// Judged says the partition has been committing for a whole window,
	// so that its verdict weighs growth (WARN) too.
	Judged bool
	// Owner is the client ID of the group member the partition is
	// assigned to, "" when none is (or the group was not read yet); Mine
	// says it is this process.
	Owner string
	Mine  bool
}

// Report is the monitor's judgement at one snapshot.
type Report struct {
	Time time.Time
	// Window is the span partition verdicts are judged over.
	Window time.Duration
	// Partitions are the tracked partitions, by ID.
	Partitions []Partition
	// Unread is the sum of the partitions' Unread, from the snapshot's
	// own lag read and positions.
	Unread int64
	Summary
	// Stages are the health of feed, kafka, agg and store (StageNames),
	// and why when not ok.
	Stages  [len(StageNames)]Health
	Reasons [len(StageNames)]string
	// Reads counts the lag reads the monitor has seen.
	Reads int
}

// Observe takes the next snapshot and returns the judgement of it.
// draining says the feed was stopped on purpose, or has ended.
func (m *Monitor) Observe(s *state.Snapshot, draining bool) *Report {
	m.lag.record(s)
	r := &Report{Time: s.Time, Window: m.lag.window, Reads: m.lag.reads}
	unread := make(map[int]int64, len(s.Lag))
	for _, pl := range s.Lag {
		if pos, ok := s.Positions[pl.Partition]; ok {
			n := max(pl.End-pos, 0)
			unread[pl.Partition] = n
			r.Unread += n
		}
	}
	r.Summary = m.lag.summary(r.Unread)
	for _, id := range m.lag.ids {
		p := m.lag.parts[id]
		in, read := m.lag.rates(p)
		n, ok := unread[id]
		if !ok {
			n = -1
		}
		v, why := m.lag.verdict(p)
		owner, owned := s.Owner(id)
		mine := owned && s.Joined && owner.ID == s.MemberID
		if v >= Stall && !s.GroupTime.IsZero() {
			switch {
			case mine:
				why += "; this process owns it"
			case owned:
				why += "; owned by " + owner.ClientID
			default:
				why += "; no member of the group owns it"
			}
		}
		r.Partitions = append(r.Partitions, Partition{
			ID: id, End: p.latest.end, Committed: p.latest.committed, Lag: p.latest.lag,
			Unread: n, In: in, Read: read, Verdict: v, Reason: why,
			Judged: !p.committing.IsZero() && p.latest.t.Sub(p.committing) >= m.lag.window,
			Owner:  owner.ClientID, Mine: mine,
		})
	}
	m.health.observe(s, r.Summary, draining)
	r.Stages, r.Reasons = m.health.stages, m.health.reasons
	return r
}

// TotalLag appends the topic's total committed lag at the newest k lag
// reads to dst, oldest first.
func (m *Monitor) TotalLag(dst []float64, k int) []float64 { return m.lag.total.last(dst, k) }
