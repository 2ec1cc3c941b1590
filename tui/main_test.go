package tui

import (
	"flag"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

// updating reports whether the run rewrites the golden files: the -update
// flag, which x/exp/golden (through teatest) defines for the package.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func TestMain(m *testing.M) {
	// Times print in the local zone; pin it, and the colour profile, so the
	// screens are the same everywhere.
	time.Local = time.UTC
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// asciiStyles is the theme with colours off, as NO_COLOR gives.
func asciiStyles() *Styles {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return NewStyles(r)
}

// step feeds msg to m.
func step(t testing.TB, m Model, msg tea.Msg) (Model, tea.Cmd) {
	t.Helper()
	next, cmd := m.Update(msg)
	return next.(Model), cmd
}

// newTestModel returns a model over a fixture of n symbols, sized w×h, that
// has seen the snapshots 0..k.
func newTestModel(t testing.TB, n, w, h, k int) (Model, *fakeSource) {
	t.Helper()
	return newTestModelFrom(t, &fakeSource{f: newFixture(n)}, w, h, k)
}

// newTestModelFrom returns a model over src, sized w×h, that has seen the
// snapshots 0..k.
func newTestModelFrom(t testing.TB, src *fakeSource, w, h, k int) (Model, *fakeSource) {
	t.Helper()
	m := New(src, Options{Styles: asciiStyles()})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	for i := 0; i <= k; i++ {
		m, _ = step(t, m, snapshotMsg{src.at(i)})
	}
	return m, src
}

// press is a key press as Bubble Tea delivers it.
func press(s string) tea.KeyMsg {
	switch s {
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func widthAnsi(s string) int { return ansi.StringWidth(s) }

func itoa(n int) string { return strconv.Itoa(n) }
