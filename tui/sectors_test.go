package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/state"
)

// gics are the eleven GICS sectors, largest volume first in
// elevenSectors.
var gics = []string{"Information Technology", "Financials", "Health Care", "Consumer Discretionary", "Communication Services",
	"Industrials", "Consumer Staples", "Energy", "Utilities", "Real Estate", "Materials"}

// elevenSectors is snapshot s with a volume in each GICS sector.
func elevenSectors(s *state.Snapshot) *state.Snapshot {
	c := *s
	c.Sectors = nil
	for i, name := range gics {
		c.Sectors = append(c.Sectors, agg.SectorDay{Sector: name, Day: s.Time, Volume: float64(1000 * (len(gics) - i))})
	}
	return &c
}

// TestSectorsFocusAndScroll tabs to the sector volume at 80x24, where not
// every sector fits, and scrolls it to the smallest.
func TestSectorsFocusAndScroll(t *testing.T) {
	m, src := newTestModel(t, 12, 80, 24, 8)
	m, _ = step(t, m, snapshotMsg{elevenSectors(src.at(9))})
	m, _ = step(t, m, press("tab"))
	if m.focus != focusSectors || !m.lay.sectors.shown() {
		t.Fatalf("tab from the symbols focused %v, want the sector volume", m.focus)
	}
	view := ansi.Strip(m.sectors.View(true))
	if !strings.HasPrefix(view, "┏━ Sector volume") || strings.Contains(view, "Materials") {
		t.Fatalf("the focused sector volume, before scrolling:\n%s", view)
	}
	if !strings.Contains(view, "1–") || !strings.Contains(view, " of 11") {
		t.Errorf("the sector volume does not say which sectors show:\n%s", view)
	}
	m, _ = step(t, m, press("G"))
	view = ansi.Strip(m.sectors.View(true))
	if !strings.Contains(view, "Materials") || strings.Contains(view, "Info Tech ") {
		t.Errorf("G does not scroll to the smallest sector:\n%s", view)
	}
	if !strings.Contains(view, "–11 of 11") {
		t.Errorf("the sector volume does not say the last sectors show:\n%s", view)
	}
	m, _ = step(t, m, press("k"))
	if m.sectors.offset == 0 || m.symbols.cursor() != 0 {
		t.Errorf("k moved the sectors to %d and the symbols to %d; want the sectors up one", m.sectors.offset, m.symbols.cursor())
	}
}
