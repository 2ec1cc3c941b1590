package tui

import (
	"bytes"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/state"
)

// TestUIAndStatusLineAgree feeds one sequence of snapshots to the terminal
// UI and to the headless status line, through a healthy spell, a consumer
// that stops reading (WARN, then STOP) and a paused feed: at every snapshot both say the same health of
// each stage and judge the same number of partitions WARN, STALL and STOP.
func TestUIAndStatusLineAgree(t *testing.T) {
	src := &fakeSource{f: newFixture(12)}
	m := New(src, Options{Styles: asciiStyles()})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 200, Height: 60})
	mon := monitor.New()
	stageWord := regexp.MustCompile(`\b(feed|kafka|agg|store) (ok|slow|down|paused|stopped)\b`)
	var prev *state.Snapshot
	seen := map[string]bool{}
	for k := 1; k <= 1000; k++ {
		switch k {
		case 200:
			src.f.stopRead = true
		case 900:
			src.f.stopRead, src.f.paused = false, true
		}
		s := src.at(k)
		m, _ = step(t, m, snapshotMsg{s})

		var line bytes.Buffer
		slog.New(slog.NewTextHandler(&line, nil)).Info("status", monitor.StatusAttrs(s, prev, mon.Observe(s, false))...)
		prev = s
		status := map[string]string{}
		for _, f := range strings.Fields(line.String()) {
			if k, v, ok := strings.Cut(f, "="); ok {
				status[k] = v
			}
		}

		ui := map[string]string{}
		for _, sm := range stageWord.FindAllStringSubmatch(ansi.Strip(m.View()), -1) {
			if _, dup := ui[sm[1]]; !dup {
				ui[sm[1]] = sm[2]
			}
		}
		for _, name := range monitor.StageNames {
			if ui[name] != status[name] {
				t.Fatalf("snapshot %d: the UI says %s %s, the status line %s=%s", k, name, ui[name], name, status[name])
			}
			seen[name+" "+ui[name]] = true
		}
		var verdicts [4]int
		for _, r := range m.lag.rows {
			verdicts[r.Verdict]++
		}
		for v, key := range map[monitor.Verdict]string{monitor.Warn: "lag_warn", monitor.Stall: "lag_stall", monitor.Stop: "lag_stop"} {
			if strconv.Itoa(verdicts[v]) != status[key] {
				t.Fatalf("snapshot %d: the UI judges %d partitions %v, the status line %s=%s", k, verdicts[v], v, key, status[key])
			}
			if verdicts[v] > 0 {
				seen[v.String()] = true
			}
		}
	}
	// The sequence must have shown more than a healthy pipeline.
	for _, want := range []string{"feed ok", "feed paused", "agg ok", "agg slow", "kafka slow", "WARN", "STOP"} {
		if !seen[want] {
			t.Errorf("the sequence never showed %s; it showed %v", want, seen)
		}
	}
}
