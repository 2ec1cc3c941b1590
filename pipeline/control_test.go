package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradetop/tradetop/store"
	"github.com/tradetop/tradetop/trade"
)

// endless emits trades as fast as it may and counts those emitted.
type endless struct{ emitted atomic.Int64 }

func (*endless) Name() string { return "endless" }

func (e *endless) Run(ctx context.Context, emit func(trade.Trade) error) error {
	for i := 0; ; i++ {
		t := trade.Trade{ID: fmt.Sprint("e-", i), Symbol: "AAPL", Price: 100, Volume: 1, Time: pinned.Add(time.Duration(i) * time.Millisecond)}
		if err := emit(t); err != nil {
			return err
		}
		e.emitted.Add(1)
	}
}

// until polls cond for up to a minute.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 6000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

func TestPauseHoldsTheFeedAndDrains(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "tradetop.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := &endless{}
	p, err := New(Config{Source: src, Store: st, SnapshotInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := p.Run(ctx); done <- err }()

	until(t, "trades to flow", func() bool { return src.emitted.Load() > 1000 })
	p.Pause()
	if !p.Paused() {
		t.Fatal("Paused() = false after Pause")
	}
	atPause := src.emitted.Load()
	// Everything produced before the pause reaches the store.
	until(t, "the paused pipeline to drain", func() bool {
		s := p.Snapshot()
		return s != nil && s.Paused && s.Produced > 0 && s.StoredTrades == s.Produced
	})
	// The feed was stopped at the gate: at most the trade already past it.
	if got := src.emitted.Load(); got > atPause+1 {
		t.Fatalf("feed emitted %d trades while paused", got-atPause)
	}
	s := p.Snapshot()
	if len(s.Tape) == 0 || s.Tape[0].ID != fmt.Sprint("e-", s.Produced-1) {
		t.Fatalf("tape does not start with the latest trade: %d trades, first %+v", len(s.Tape), s.Tape)
	}

	p.Resume()
	until(t, "the feed to resume", func() bool { return src.emitted.Load() > atPause+1000 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTapeKeepsTheLatestNewestFirst(t *testing.T) {
	var tp tape
	if got := tp.latest(); len(got) != 0 {
		t.Fatalf("empty tape has %d trades", len(got))
	}
	var all []trade.Trade
	for i := range 200 {
		all = append(all, trade.Trade{ID: fmt.Sprint(i)})
	}
	tp.add(all[:3])
	tp.add(all[3:150]) // more than the ring holds in one call
	tp.add(all[150:])
	got := tp.latest()
	if len(got) != tapeLen {
		t.Fatalf("len = %d, want %d", len(got), tapeLen)
	}
	for i, tr := range got {
		if want := fmt.Sprint(199 - i); tr.ID != want {
			t.Fatalf("tape[%d] = %s, want %s", i, tr.ID, want)
		}
	}
}
