package tui

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/state"
)

// eventsSnapshot has one pipeline event of each level, oldest first.
func eventsSnapshot() *state.Snapshot {
	return &state.Snapshot{Time: t0.Add(time.Minute), Errors: 1, Events: []state.Event{
		{Time: t0.Add(1 * time.Second), Level: slog.LevelWarn, Source: "kafka", Message: "rebalance in progress"},
		{Time: t0.Add(2 * time.Second), Level: slog.LevelError, Source: "store", Message: "no hosts available"},
		{Time: t0.Add(3 * time.Second), Level: slog.LevelInfo, Source: "store", Message: "store is back after 2s"},
	}}
}

func TestEventsPaneLabelsLevels(t *testing.T) {
	p := &eventsPane{st: asciiStyles()}
	p.SetSize(80, 8)
	p.update(eventsSnapshot())
	p.note(t0.Add(4*time.Second), "feed paused")
	lines := strings.Split(p.View(false, ""), "\n")
	want := []string{
		"15:00:04 INFO  tradetop feed paused",
		"15:00:03 INFO  store    store is back after 2s",
		"15:00:02 ERROR store    no hosts available",
		"15:00:01 WARN  kafka    rebalance in progress",
	}
	for i, w := range want {
		if got := strings.TrimSpace(strings.Trim(lines[i+1], "│")); got != w {
			t.Errorf("row %d = %q, want %q", i, got, w)
		}
	}
}

func TestEventsPaneColoursLevels(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI256)
	st := NewStyles(r)
	p := &eventsPane{st: st}
	p.SetSize(80, 8)
	p.update(eventsSnapshot())
	p.note(t0.Add(4*time.Second), "feed paused")
	view := p.View(false, "")
	// prefix is the escape sequence a style starts with.
	prefix := func(s lipgloss.Style) string { return strings.SplitN(s.Render("x"), "x", 2)[0] }
	for _, tt := range []struct {
		name  string
		style lipgloss.Style
		label string
	}{
		{"error", st.Bad, "ERROR store"},
		{"warning", st.Warn, "WARN  kafka"},
		{"recovery", st.OK, "INFO  store"},
		{"the UI's own note", st.Dim, "INFO  tradetop"},
	} {
		if pre := prefix(tt.style); pre == "" || !strings.Contains(view, pre+tt.label) {
			t.Errorf("%s: no %q in style %q in\n%s", tt.name, tt.label, pre, view)
		}
	}
}

func TestHeaderShowsRecentLatency(t *testing.T) {
	s := &state.Snapshot{Time: t0.Add(time.Minute), Started: t0,
		Latency:       state.Latency{P50: 40 * time.Millisecond, P99: 2400 * time.Millisecond, N: 5000},
		RecentLatency: state.Latency{P50: 12 * time.Millisecond, P99: 48 * time.Millisecond, N: 800},
	}
	var stages [len(monitor.StageNames)]monitor.Health
	if got := header(asciiStyles(), 200, s, stages, "", ""); !strings.Contains(got, "p50 12ms p99 48ms last 10s") || strings.Contains(got, "2.4s") {
		t.Errorf("header shows\n%s\nwant the last ten seconds' p50 12ms and p99 48ms, not the whole run's", got)
	}
	s.RecentLatency = state.Latency{}
	if got := header(asciiStyles(), 200, s, stages, "", ""); !strings.Contains(got, "p50 – p99 – last 10s") {
		t.Errorf("header with nothing stored lately shows\n%s\nwant no figures", got)
	}
}

// manyEvents is a snapshot with n pipeline events, oldest first, the i-th
// a second after t0 with a message long enough to be cut in a pane.
func manyEvents(n int) *state.Snapshot {
	s := &state.Snapshot{Time: t0.Add(time.Hour), Started: t0, Errors: int64(n)}
	for i := range n {
		src, lvl := "kafka", slog.LevelWarn
		if i%3 == 0 {
			src, lvl = "store", slog.LevelError
		}
		s.Events = append(s.Events, state.Event{Time: t0.Add(time.Duration(i+1) * time.Second), Level: lvl, Source: src,
			Message: fmt.Sprintf("event %02d: %s the end", i, strings.Repeat("a long explanation of what went wrong ", 6))})
	}
	return s
}

// TestEventsCanBeRead focuses the events pane with tab, at 80x24 where it
// has no place of its own, moves through the events, shows one whole and
// searches them.
func TestEventsCanBeRead(t *testing.T) {
	src := &fakeSource{f: newFixture(12)}
	m := New(src, Options{Styles: asciiStyles()})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, _ = step(t, m, snapshotMsg{src.at(8)})
	m, _ = step(t, m, snapshotMsg{manyEvents(30)})
	for range 8 {
		if m.focus == focusEvents {
			break
		}
		m, _ = step(t, m, press("tab"))
	}
	if m.focus != focusEvents || !m.lay.events.shown() {
		t.Fatalf("tab never focused a shown events pane: focus %v, events at %+v", m.focus, m.lay.events)
	}
	view := ansi.Strip(m.View())
	if !strings.Contains(view, "┏━ Events") || !strings.Contains(view, "▸ ") || !strings.Contains(view, "event 29") {
		t.Fatalf("the focused events pane does not show the newest event selected:\n%s", view)
	}

	// Down moves through the events, scrolling past the pane's end.
	for range 12 {
		m, _ = step(t, m, press("down"))
	}
	view = ansi.Strip(m.View())
	if !strings.Contains(view, "▸ 15:00:18") || strings.Contains(view, "event 29") {
		t.Fatalf("twelve downs do not select the event of 15:00:18 and scroll:\n%s", view)
	}

	// Enter shows it whole, wrapped; enter again goes back.
	m, _ = step(t, m, press("enter"))
	view = ansi.Strip(m.View())
	words := strings.Join(strings.Fields(strings.ReplaceAll(view, "┃", " ")), " ")
	if !strings.Contains(words, "event 17: "+strings.TrimSpace(strings.Repeat("a long explanation of what went wrong ", 6))+" the end") {
		t.Fatalf("enter does not show event 17 whole:\n%s", view)
	}
	m, _ = step(t, m, press("enter"))
	if strings.Contains(ansi.Strip(m.View()), "the end") {
		t.Fatalf("enter again does not go back to the list")
	}

	// / searches the events while they are focused, not the symbols.
	m, _ = step(t, m, press("/"))
	m, _ = step(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("event 0")})
	if m.filtering || m.symbols.filter != "" {
		t.Fatalf("/ in the events pane filtered the symbols")
	}
	m, _ = step(t, m, press("enter"))
	view = ansi.Strip(m.View())
	// Events 00 to 09 match, the newest first.
	if !strings.Contains(view, "event 09") {
		t.Errorf("searching for “event 0” does not show event 09:\n%s", view)
	}
	for i := 10; i < 30; i++ {
		if strings.Contains(view, fmt.Sprintf("event %02d", i)) {
			t.Errorf("searching for “event 0” shows event %02d:\n%s", i, view)
		}
	}
	if !strings.Contains(view, "10 of 30") {
		t.Errorf("the pane does not say how many events match:\n%s", view)
	}
	// esc clears the search.
	m, _ = step(t, m, press("esc"))
	if view = ansi.Strip(m.View()); !strings.Contains(view, "event 29") {
		t.Errorf("esc does not clear the search:\n%s", view)
	}
}

// TestNotesOfOneMomentNewestFirst notes two things at the same snapshot
// time, as two keys pressed within one frame do: the later shows first.
func TestNotesOfOneMomentNewestFirst(t *testing.T) {
	p := &eventsPane{st: asciiStyles()}
	p.SetSize(80, 8)
	p.update(eventsSnapshot())
	p.note(t0.Add(4*time.Second), "feed paused")
	p.note(t0.Add(4*time.Second), "feed resumed")
	lines := strings.Split(ansi.Strip(p.View(false, "")), "\n")
	if !strings.Contains(lines[1], "feed resumed") || !strings.Contains(lines[2], "feed paused") {
		t.Errorf("the notes of one moment, newest first:\n%s", strings.Join(lines, "\n"))
	}
}
