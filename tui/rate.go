package tui

import (
	"math"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tradetop/tradetop/pipeline"
)

// rateSetter is a Source whose feed's pace can change while it runs, as
// *pipeline.Pipeline's does with the synthetic feed (Snapshot.Rate and
// RateAdjustable say it can): SetRate takes trades per second, 0 for as
// fast as the pipeline takes them. It may be called from any goroutine;
// the UI calls it from a tea.Cmd.
type rateSetter interface {
	SetRate(rate float64) error
}

var _ rateSetter = (*pipeline.Pipeline)(nil)

// rateSteps are the rates + and - step through, slowest first; 0 is max.
var rateSteps = []float64{10, 100, 1000, 10000, 0}

// rateSetMsg is the source's answer to a change of rate.
type rateSetMsg struct {
	rate float64
	err  error
}

// stepRate is the rate one step faster (dir 1) or slower (-1) than cur,
// which need not be a step itself; it stays at either end.
func stepRate(cur float64, dir int) float64 {
	if cur == 0 { // max
		if dir > 0 {
			return 0
		}
		return rateSteps[len(rateSteps)-2]
	}
	if dir > 0 {
		for _, r := range rateSteps {
			if r == 0 || r > cur {
				return r
			}
		}
	}
	for i := len(rateSteps) - 2; i >= 0; i-- {
		if rateSteps[i] < cur {
			return rateSteps[i]
		}
	}
	return cur
}

// rate is the feed's rate as the header shows it: the one asked for until
// a snapshot shows it, else the snapshot's; ok is false for a feed without
// a pace.
func (m *Model) rate() (rate float64, ok bool) {
	if m.snap == nil || !m.snap.RateAdjustable {
		return 0, false
	}
	if m.rateWant != nil {
		return *m.rateWant, true
	}
	return m.snap.Rate, true
}

// fmtPace prints a feed's rate: rate 1,000/s, rate 2.5/s, rate max.
func fmtPace(rate float64) string {
	switch {
	case rate <= 0:
		return "rate max"
	case rate == math.Trunc(rate):
		return "rate " + fmtInt(int64(rate)) + "/s"
	}
	return "rate " + trimFloat(rate, 1) + "/s"
}

// onRate makes the feed one step faster (dir 1) or slower (-1). One change
// is asked of the source at a time; presses while it is under way move
// the rate wanted, which is asked for when the source answers.
func (m Model) onRate(dir int) (tea.Model, tea.Cmd) {
	if m.draining || m.refuseControl("changing the feed's rate") {
		return m, nil
	}
	setter, isSetter := m.src.(rateSetter)
	cur, ok := m.rate()
	if !ok || !isSetter {
		name := "this"
		if m.snap != nil {
			name = "the " + m.snap.Source
		}
		m.events.note(m.now(), name+" source's pace is fixed; + and - change the synthetic feed's rate")
		return m, nil
	}
	next := stepRate(cur, dir)
	if next == cur {
		return m, nil
	}
	m.rateWant = &next
	if m.rateBusy {
		return m, nil
	}
	m.rateBusy = true
	return m, setRate(setter, next)
}

// setRate asks the source, off the program's goroutine, for a new rate.
func setRate(src rateSetter, rate float64) tea.Cmd {
	return func() tea.Msg { return rateSetMsg{rate: rate, err: src.SetRate(rate)} }
}

// onRateSet takes the source's answer: it asks for the rate wanted since,
// if that has moved on, and says in the events how the change went.
func (m Model) onRateSet(msg rateSetMsg) (tea.Model, tea.Cmd) {
	m.rateBusy = false
	if msg.err != nil {
		m.rateWant = nil
		m.events.note(m.now(), "the feed's rate stays: "+msg.err.Error())
		return m, nil
	}
	if setter, ok := m.src.(rateSetter); ok && m.rateWant != nil && *m.rateWant != msg.rate {
		m.rateBusy = true
		return m, setRate(setter, *m.rateWant)
	}
	m.events.note(m.now(), "feed "+fmtPace(msg.rate))
	return m, nil
}
