package monitor

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/tradetop/tradetop/state"
)

// LogStatus logs one status line from the watcher's latest snapshot every
// interval until ctx is done: the monitor's health of each stage (feed,
// kafka, agg, store: ok, slow, down, paused or stopped) and how many
// partitions it judges WARN, STALL and STOP, then what each stage did, the
// rates, lag and latency. It is the headless mode's view of the pipeline,
// and judges with the same monitor as the terminal UI. Its latency is the
// recent one, over the last RecentWindow (keys p50_ms_last10s and
// p99_ms_last10s); the Summary has the whole run's.
func LogStatus(ctx context.Context, w *Watcher, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var prev *state.Snapshot
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, r := w.Latest()
		if s == nil || s == prev {
			continue
		}
		log.Info("status", StatusAttrs(s, prev, r)...)
		prev = s
	}
}

// StatusAttrs are the key-value pairs of the status line of snapshot s,
// judged r, whose rates are since prev (the snapshot's own without one).
func StatusAttrs(s, prev *state.Snapshot, r *Report) []any {
	in, stored := s.InRate, s.StoredRate
	if prev != nil {
		if dt := s.Time.Sub(prev.Time).Seconds(); dt > 0 {
			in = float64(s.Produced-prev.Produced) / dt
			stored = float64(s.StoredTrades-prev.StoredTrades) / dt
		}
	}
	attrs := make([]any, 0, 2*(len(StageNames)+30))
	attrs = append(attrs, "role", s.Role)
	for i, name := range StageNames {
		attrs = append(attrs, name, r.Stages[i].String())
	}
	attrs = append(attrs,
		"lag_warn", r.Verdicts[Warn],
		"lag_stall", r.Verdicts[Stall],
		"lag_stop", r.Verdicts[Stop],
		"produced", s.Produced,
		"in_per_s", int64(in),
		"consumed", s.Consumed,
		"stored", s.StoredTrades,
		"stored_per_s", int64(stored),
		"candles", s.Candles,
		"unread", s.Unread,
		"commit_lag", s.TotalLag,
		"commit_trail", s.CommitTrail,
		"p50_ms_last10s", ms(s.RecentLatency.P50),
		"p99_ms_last10s", ms(s.RecentLatency.P99),
		"late", s.Late,
		"dup", s.Duplicates,
		"bad", s.Bad,
		"errors", s.Errors,
	)
	if !s.GroupTime.IsZero() {
		attrs = append(attrs, "members", len(s.Members))
	}
	if s.Joined {
		attrs = append(attrs, "partitions", Assigned(s))
	}
	if s.Bound != "" {
		attrs = append(attrs, "bound", s.Bound, "bound_used", s.BoundUsed, "bound_limit", s.BoundLimit, "held", s.Holding)
	}
	if f := s.Feed; f != nil {
		attrs = append(attrs, "feed_bad", f.Bad, "feed_dropped", f.Dropped, "feed_connected", f.Connected)
	}
	return attrs
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Assigned writes the partitions assigned to this process as "0,1,2", or
// "idle" for a member the group gave none.
func Assigned(s *state.Snapshot) string {
	if len(s.Assigned) == 0 {
		return "idle"
	}
	out := make([]byte, 0, 3*len(s.Assigned))
	for i, p := range s.Assigned {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendInt(out, int64(p), 10)
	}
	return string(out)
}
