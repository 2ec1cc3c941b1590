package monitor

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/state"
)

func TestStatusLineHasRecentLatency(t *testing.T) {
	s := &state.Snapshot{
		Time:          t0,
		Latency:       state.Latency{P50: 2 * time.Second, P99: 9 * time.Second, N: 10},
		RecentLatency: state.Latency{P50: 12 * time.Millisecond, P99: 48500 * time.Microsecond, N: 5},
	}
	var out bytes.Buffer
	slog.New(slog.NewTextHandler(&out, nil)).Info("status", StatusAttrs(s, nil, New().Observe(s, false))...)
	line := out.String()
	if !strings.Contains(line, " p50_ms_last10s=12 p99_ms_last10s=48.5 ") {
		t.Errorf("status line %q lacks the recent p50 and p99", line)
	}
	if strings.Contains(line, "=2000") || strings.Contains(line, "=9000") {
		t.Errorf("status line %q has the whole run's latency", line)
	}
}

// TestLogStatusLogsEachSnapshotOnce logs while snapshots come: a line per
// new snapshot, none for one already logged.
func TestLogStatusLogsEachSnapshotOnce(t *testing.T) {
	snaps := make(chan *state.Snapshot, 1)
	var cur *state.Snapshot
	get := func() *state.Snapshot {
		select {
		case s := <-snaps:
			cur = s
		default:
		}
		return cur
	}
	var out e2e.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		LogStatus(ctx, Watch(ctx, get, every(ctx, time.Millisecond), nil), slog.New(slog.NewTextHandler(&out, nil)), time.Millisecond)
	}()
	for i := 1; i <= 3; i++ {
		snaps <- &state.Snapshot{Time: t0.Add(time.Duration(i) * time.Second), Produced: int64(i)}
		for n := 0; n < 10000 && strings.Count(out.String(), "\n") < i; n++ {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(20 * time.Millisecond) // room for lines that should not come
	cancel()
	<-done
	if n := strings.Count(out.String(), "msg=status"); n != 3 {
		t.Errorf("%d status lines for 3 snapshots:\n%s", n, out.String())
	}
}
