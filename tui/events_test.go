package tui

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/tradetop/tradetop/pipeline"
)

// eventsSnapshot has one pipeline event of each level, oldest first.
func eventsSnapshot() *pipeline.Snapshot {
	return &pipeline.Snapshot{Time: t0.Add(time.Minute), Errors: 1, Events: []pipeline.Event{
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
	lines := strings.Split(p.View(false), "\n")
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
	view := p.View(false)
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
	s := &pipeline.Snapshot{Time: t0.Add(time.Minute), Started: t0,
		Latency:       pipeline.Latency{P50: 40 * time.Millisecond, P99: 2400 * time.Millisecond, N: 5000},
		RecentLatency: pipeline.Latency{P50: 12 * time.Millisecond, P99: 48 * time.Millisecond, N: 800},
	}
	var stages [len(stageNames)]health
	if got := header(asciiStyles(), 200, s, stages, ""); !strings.Contains(got, "p50 12ms p99 48ms last 10s") || strings.Contains(got, "2.4s") {
		t.Errorf("header shows\n%s\nwant the last ten seconds' p50 12ms and p99 48ms, not the whole run's", got)
	}
	s.RecentLatency = pipeline.Latency{}
	if got := header(asciiStyles(), 200, s, stages, ""); !strings.Contains(got, "p50 – p99 – last 10s") {
		t.Errorf("header with nothing stored lately shows\n%s\nwant no figures", got)
	}
}
