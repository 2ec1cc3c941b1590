package tui

import (
	"fmt"
	"io"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

// TestGoldenAlerts: the dashboard of a run whose alert rules fire, as the
// pipeline's snapshots carry them: a highlighted ALERT line in the events
// per alert that fired, and "!" on the row of a symbol one fires for.
func TestGoldenAlerts(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		name := fmt.Sprintf("alerts_%dx%d", size[0], size[1])
		t.Run(name, func(t *testing.T) {
			f := newFixture(12)
			f.alerts = true
			src := &fakeSource{f: f}
			m := New(src, Options{Styles: asciiStyles()})
			m, _ = step(t, m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			for k := 0; k <= 360; k += 4 {
				m, _ = step(t, m, snapshotMsg{src.at(k)})
			}
			golden(t, name, m.View())
		})
	}
}

// row returns the line of view holding s, without colours.
func row(view, s string) string {
	for _, l := range strings.Split(ansi.Strip(view), "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// tableRow returns the symbols table's row of sym, from its marks on.
func tableRow(view, sym string) string {
	for _, l := range strings.Split(ansi.Strip(view), "\n") {
		_, rest, ok := strings.Cut(l, "┃ ")
		if !ok {
			continue
		}
		if r := []rune(rest); len(r) > 2 && strings.HasPrefix(string(r[2:]), sym+" ") {
			return rest
		}
	}
	return ""
}

func TestAnAlertMarksItsSymbolWhileItFires(t *testing.T) {
	f := newFixture(12)
	f.alerts = true
	src := &fakeSource{f: f}
	// Snapshots are 250ms apart: 156 is 39s, before AAPL's alert fires.
	m, _ := newTestModelFrom(t, src, 160, 48, 156)
	if r := tableRow(m.View(), "AAPL"); r == "" || strings.HasPrefix(r, "▸!") {
		t.Errorf("AAPL's row %q before its alert fires: want it unmarked", r)
	}
	if strings.Contains(m.View(), "alerting") {
		t.Error("the symbols say something is alerting before AAPL's alert fires")
	}
	// An alert of no symbol (lag-high) marks none.
	if strings.Contains(ansi.Strip(m.View()), "!") {
		t.Errorf("a mark while only lag-high fires:\n%s", m.View())
	}
	m, _ = step(t, m, snapshotMsg{src.at(160)})
	view := m.View()
	if r := tableRow(view, "AAPL"); !strings.HasPrefix(r, "▸!AAPL ") {
		t.Errorf("AAPL's row %q once its alert fires: want it marked", r)
	}
	if r := tableRow(view, "JPM"); !strings.HasPrefix(r, "  JPM ") {
		t.Errorf("JPM's row %q: want it unmarked", r)
	}
	if !strings.Contains(row(view, "Symbols"), "! 1 alerting") {
		t.Errorf("symbols' title %q: want it to count the symbol alerting", row(view, "Symbols"))
	}
	for _, want := range []string{
		"15:00:40 ALERT alert         aapl-below-20: AAPL 19.97 below 20.00",
		"15:00:38 ALERT alert         lag-high: partition 2 lag 5400 above 5000",
		"15:00:30 INFO  alert         store-down: store ok again",
	} {
		if !strings.Contains(ansi.Strip(view), want) {
			t.Errorf("no event line %q in\n%s", want, ansi.Strip(view))
		}
	}
	// Re-armed, its symbol's mark goes; its event stays.
	f.alerts = false
	m, _ = step(t, m, snapshotMsg{src.at(164)})
	if r := tableRow(m.View(), "AAPL"); !strings.HasPrefix(r, "▸ AAPL ") {
		t.Errorf("AAPL's row %q once no alert fires: want it unmarked", r)
	}
}

func TestAnAlertIsHighlighted(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI256)
	st := NewStyles(r)
	f := newFixture(12)
	f.alerts = true
	src := &fakeSource{f: f}
	m := New(src, Options{Styles: st})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 160, Height: 48})
	m, _ = step(t, m, snapshotMsg{src.at(200)})
	view := m.View()
	prefix := func(s lipgloss.Style) string { return strings.SplitN(s.Render("x"), "x", 2)[0] }
	alert := prefix(st.Alert)
	if alert == prefix(st.Warn) || alert == prefix(st.Level(0)) {
		t.Fatalf("the alert style %q is that of a level", alert)
	}
	for _, want := range []string{alert + "ALERT alert", alert + "!", prefix(st.OK) + "INFO  alert"} {
		if !strings.Contains(view, want) {
			t.Errorf("no %q in\n%s", want, view)
		}
	}
}
