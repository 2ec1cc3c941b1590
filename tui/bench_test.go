package tui

import (
	"io"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/tradetop/tradetop/state"
)

// colourStyles is the theme on a 256-colour terminal, where styles cost
// the most to render.
func colourStyles() *Styles {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI256)
	return NewStyles(r)
}

// BenchmarkView draws the dashboard of 50 symbols at 200x60 in colour, as
// the program does after every message.
func BenchmarkView(b *testing.B) {
	src := &fakeSource{f: newFixture(50)}
	m := New(src, Options{Styles: colourStyles()})
	m, _ = step(b, m, tea.WindowSizeMsg{Width: 200, Height: 60})
	for k := 0; k <= 240; k++ {
		m, _ = step(b, m, snapshotMsg{src.at(k)})
	}
	b.SetBytes(int64(len(m.View())))
	b.ReportAllocs()
	for b.Loop() {
		_ = m.View()
	}
}

// BenchmarkSnapshot takes a new snapshot and draws the dashboard of 50
// symbols at 200x60: the work of each of the four frames a second whose
// data changed.
func BenchmarkSnapshot(b *testing.B) {
	src := &fakeSource{f: newFixture(50)}
	m := New(src, Options{Styles: colourStyles()})
	m, _ = step(b, m, tea.WindowSizeMsg{Width: 200, Height: 60})
	pool := make([]*state.Snapshot, 1200)
	for i := range pool {
		pool[i] = src.f.snapshot(i)
	}
	for _, s := range pool[:240] {
		m, _ = step(b, m, snapshotMsg{s})
	}
	span := time.Duration(len(pool)) * src.f.step
	i := 240
	b.ReportAllocs()
	for b.Loop() {
		s := *pool[i%len(pool)]
		shift := time.Duration(i/len(pool)) * span
		s.Time, s.LagTime = s.Time.Add(shift), s.LagTime.Add(shift)
		i++
		m, _ = step(b, m, snapshotMsg{&s})
		_ = m.View()
	}
}
