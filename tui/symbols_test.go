package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// symbolsTitle is the top edge of the drawn symbols pane.
func symbolsTitle(m Model) string {
	return strings.Split(ansi.Strip(m.symbols.View(true, "")), "\n")[0]
}

// TestTrendLabelSaysTheSpanCovered checks the trend column's label two
// minutes into a run whose sparklines could hold more: it says the two
// minutes the data covers, not what the columns could hold.
func TestTrendLabelSaysTheSpanCovered(t *testing.T) {
	for _, tt := range []struct {
		name      string
		snapshots int // a second apart
		want      string
	}{
		{"two minutes in", 120, "trend 2m"},
		{"forty seconds in", 40, "trend 40s"},
		{"past the history kept", 650, "trend 10m"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{f: newFixture(12)}
			src.f.step = time.Second
			m, _ := newTestModelFrom(t, src, 100, 30, tt.snapshots)
			c := m.symbols.cols.trend
			if c == 0 {
				t.Fatal("no trend column at 100x30")
			}
			capacity := fmtSpan(time.Duration(m.symbols.step*c) * time.Second)
			title := symbolsTitle(m)
			want := tt.want
			if !strings.Contains(title, want+" ") && !strings.HasSuffix(strings.TrimRight(title, "━┓ "), want) {
				t.Errorf("title %q, want %q (the columns hold %s)", title, want, capacity)
			}
		})
	}
}

// TestSymbolsSayWhichRowsShow checks the position indicator of a table
// longer than its pane, as the selection moves down it.
func TestSymbolsSayWhichRowsShow(t *testing.T) {
	m, _ := newTestModel(t, 50, 80, 24, 40)
	page := m.symbols.pageRows()
	if !strings.Contains(symbolsTitle(m), "1–"+itoa(page)+" of 50") {
		t.Errorf("title %q, want rows 1–%d of 50", symbolsTitle(m), page)
	}
	for range page + 3 {
		m, _ = step(t, m, press("down"))
	}
	first := m.symbols.offset + 1
	if want := itoa(first) + "–" + itoa(first+page-1) + " of 50"; first == 1 || !strings.Contains(symbolsTitle(m), want) {
		t.Errorf("after %d downs the title is %q, want %q", page+3, symbolsTitle(m), want)
	}
	// Filtered, it counts the matching rows.
	m = drive(t, m, []string{"/", "s", "1"})
	if !strings.Contains(symbolsTitle(m), "10/50") {
		t.Errorf("filtered title %q, want 10/50 (S10–S19)", symbolsTitle(m))
	}
	// All rows shown: just the count.
	m, _ = newTestModel(t, 6, 80, 24, 40)
	if title := symbolsTitle(m); !strings.Contains(title, "Symbols · 6 · ") {
		t.Errorf("title %q, want the count alone", title)
	}
}
