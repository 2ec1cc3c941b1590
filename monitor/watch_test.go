package monitor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradetop/tradetop/state"
)

// TestWatchHandsOnEachSnapshotOnce: what judges more from the watcher's
// snapshots (the alerts) gets each new one once, in order, with the
// report Latest gives, however often the watcher looks.
func TestWatchHandsOnEachSnapshotOnce(t *testing.T) {
	var cur atomic.Pointer[state.Snapshot]
	type judgedAt struct {
		s *state.Snapshot
		r *Report
	}
	judged := make(chan judgedAt, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := Watch(ctx, cur.Load, every(ctx, time.Millisecond), func(s *state.Snapshot, r *Report) { judged <- judgedAt{s, r} })
	next := func() judgedAt {
		t.Helper()
		select {
		case j := <-judged:
			return j
		case <-time.After(10 * time.Second):
			t.Fatal("no snapshot judged in 10s")
			return judgedAt{}
		}
	}
	for i := 1; i <= 3; i++ {
		s := &state.Snapshot{Time: t0.Add(time.Duration(i) * time.Second), Produced: int64(i)}
		cur.Store(s)
		// The snapshot before it, looked at many times meanwhile, is not
		// handed on again: this one comes next.
		j := next()
		if j.s != s || !j.r.Time.Equal(s.Time) {
			t.Fatalf("judged the snapshot of %v, want that of %v", j.s.Time, s.Time)
		}
		if ls, lr := w.Latest(); ls != s || lr != j.r {
			t.Errorf("Latest %v, %p: want the snapshot and report handed on", ls.Time, lr)
		}
	}
}

// every wakes a watcher every d until ctx is done, as a publisher of a
// snapshot every d would.
func every(ctx context.Context, d time.Duration) <-chan struct{} {
	wake := make(chan struct{})
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case wake <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return wake
}
