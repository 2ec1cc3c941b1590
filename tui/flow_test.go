package tui

import (
	"bytes"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
)

// TestWholeFlow runs the UI as a program over a fake pipeline: the panes
// come up, enter and esc go to the detail and back, p pauses the feed, and q
// drains and exits once the pipeline says it is done.
func TestWholeFlow(t *testing.T) {
	src := &fakeSource{f: newFixture(12)}
	src.at(120)
	done := make(chan struct{})
	var once sync.Once
	m := New(src, Options{
		Styles:   asciiStyles(),
		Interval: 20 * time.Millisecond,
		// The pipeline drains at once.
		Stop: func() { once.Do(func() { close(done) }) },
		Done: done,
	})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40))
	waitFor := func(what ...string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
			for _, w := range what {
				if !bytes.Contains(b, []byte(w)) {
					return false
				}
			}
			return true
		}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	waitFor("Symbols", "AAPL", "Sector volume", "Topic lag", "feed")

	tm.Send(tea.KeyMsg{Type: tea.KeyDown})
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor("Candles", "1s candles", "VWAP")

	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	waitFor("Sector volume")

	tm.Type("p")
	waitFor("PAUSED")

	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	final := tm.FinalModel(t).(Model)
	if !final.draining || final.symbols.selected != "JPM" {
		t.Errorf("final: draining %v selected %q", final.draining, final.symbols.selected)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.pauses != 1 || src.reads == 0 {
		t.Errorf("pauses %d, candle reads %d", src.pauses, src.reads)
	}
}

// TestRunThatEndsByItself runs the UI over a pipeline that ends without
// being asked to (a count reached, a replay read to its end): the UI shows
// the run's summary from the final snapshot, and exits on a key.
func TestRunThatEndsByItself(t *testing.T) {
	src := &fakeSource{f: newFixture(12)}
	src.at(120)
	done := make(chan struct{})
	m := New(src, Options{Styles: asciiStyles(), Interval: 20 * time.Millisecond, Done: done})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40))
	waitFor := func(what ...string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
			for _, w := range what {
				if !bytes.Contains(b, []byte(w)) {
					return false
				}
			}
			return true
		}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	waitFor("Symbols", "AAPL")

	// The pipeline publishes its final snapshot, then says it is done.
	final := src.at(124)
	close(done)
	waitFor("Run ended", "produced", fmtInt(final.Produced), "any key exits")

	tm.Type("x")
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	if got := tm.FinalModel(t).(Model); got.draining {
		t.Errorf("the run ended by itself, and the UI says it drains")
	}
}
