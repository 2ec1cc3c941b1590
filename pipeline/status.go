package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/tradetop/tradetop/state"
)

// LogStatus logs one status line from the latest snapshot every interval
// until ctx is done: what each stage did, the rates, lag and latency. It is
// the headless mode's view of the pipeline. Its latency is the recent one,
// over the last RecentWindow (keys p50_ms_last10s and p99_ms_last10s); the
// Summary has the whole run's.
func (p *Pipeline) LogStatus(ctx context.Context, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var prev *state.Snapshot
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := p.Snapshot()
		if s == nil {
			continue
		}
		in, stored := s.InRate, s.StoredRate
		if prev != nil {
			if dt := s.Time.Sub(prev.Time).Seconds(); dt > 0 {
				in = float64(s.Produced-prev.Produced) / dt
				stored = float64(s.StoredTrades-prev.StoredTrades) / dt
			}
		}
		prev = s
		attrs := []any{
			"kafka", upOrDown(s.KafkaDownSince),
			"store", upOrDown(s.StoreDownSince),
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
		}
		if f := s.Feed; f != nil {
			attrs = append(attrs, "feed_bad", f.Bad, "feed_dropped", f.Dropped, "feed_connected", f.Connected)
		}
		log.Info("status", attrs...)
	}
}

// upOrDown is a system's state in the status line.
func upOrDown(since time.Time) string {
	if since.IsZero() {
		return "ok"
	}
	return "down"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
