package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// settle runs cmd and every command its messages lead to, feeding the
// messages to m, as the program would.
func settle(t *testing.T, m Model, cmd tea.Cmd) Model {
	t.Helper()
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		default:
			var next tea.Cmd
			m, next = step(t, m, msg)
			queue = append(queue, next)
		}
	}
	return m
}

// headerLine is the header's first line.
func headerLine(m Model) string { return strings.Split(ansi.Strip(m.View()), "\n")[0] }

// TestRateKeys steps the synthetic feed's rate with + and - through 10,
// 100, 1,000, 10,000 and max, each press asking the source once the one
// before is answered; the header says the rate at once.
func TestRateKeys(t *testing.T) {
	src := &fakeSource{f: newFixture(12)}
	src.f.pace, src.f.paced = 500, true
	m, _ := newTestModelFrom(t, src, 100, 30, 20)
	if h := headerLine(m); !strings.Contains(h, "rate 500/s") {
		t.Fatalf("the header does not say the rate: %q", h)
	}
	press := func(keys string, want float64, header string) {
		t.Helper()
		m2, cmd := step(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(keys)})
		if h := headerLine(m2); !strings.Contains(h, header) {
			t.Errorf("%s: the header says %q before the source answers, want %q", keys, h, header)
		}
		m = settle(t, m2, cmd)
		if src.f.pace != want {
			t.Errorf("%s: the source runs at %v, want %v", keys, src.f.pace, want)
		}
		m, _ = step(t, m, snapshotMsg{src.at(int(m.snap.Time.Sub(t0).Milliseconds()/250) + 1)})
		if h := headerLine(m); !strings.Contains(h, header) {
			t.Errorf("%s: the header says %q after the snapshot, want %q", keys, h, header)
		}
	}
	press("+", 1000, "rate 1,000/s")
	press("+", 10000, "rate 10,000/s")
	press("+", 0, "rate max")
	press("+", 0, "rate max")
	press("-", 10000, "rate 10,000/s")
	// Two presses in one burst ask twice, in order.
	n := len(src.rates)
	press("--", 100, "rate 100/s")
	if got := src.rates[n:]; len(got) != 2 || got[0] != 1000 || got[1] != 100 {
		t.Errorf("-- asked for %v, want 1000 then 100", got)
	}
	press("-", 10, "rate 10/s")
	press("-", 10, "rate 10/s")
}

// TestRateKeysOnAFixedSource presses + on a source without a pace: nothing
// is asked, and the events say why.
func TestRateKeysOnAFixedSource(t *testing.T) {
	m, src := newTestModel(t, 12, 160, 48, 20)
	m, cmd := step(t, m, press("+"))
	m = settle(t, m, cmd)
	if len(src.rates) != 0 || strings.Contains(headerLine(m), "rate") {
		t.Errorf("+ on a fixed source: rates %v, header %q", src.rates, headerLine(m))
	}
	if !strings.Contains(m.View(), "pace is fixed") {
		t.Errorf("the events do not say the pace is fixed")
	}
}
