package tui

import (
	"log/slog"
	"slices"

	"github.com/tradetop/tradetop/state"
)

// summaryScreen is the end of a run that ended by itself: what it produced
// and stored, what it left out, and how long trades took, all from the
// final snapshot, which counts the whole run. It shows until a key is
// pressed.
type summaryScreen struct {
	st      *Styles
	w, h    int
	s       *state.Snapshot
	stopped bool // told to stop (a time limit) rather than the feed ending
	lines   []string
	boxW    int
}

// summaryWidth is the widest the summary's card gets.
const summaryWidth = 76

// SetSize gives the screen the body's size.
func (p *summaryScreen) SetSize(w, h int) {
	p.w, p.h = w, h
	p.draw()
}

// update takes the final snapshot. stopped says the run was told to stop
// at a time limit, rather than its feed ending.
func (p *summaryScreen) update(s *state.Snapshot, stopped bool) {
	p.s, p.stopped = s, stopped
	p.draw()
}

// maxSummaryErrors is how many of the latest errors the summary quotes.
const maxSummaryErrors = 3

// draw lays out the figures for the card's width.
func (p *summaryScreen) draw() {
	st, s := p.st, p.s
	p.boxW = min(p.w, summaryWidth)
	cw := p.boxW - 4
	p.lines = p.lines[:0]
	if s == nil || cw <= 0 {
		return
	}
	wrap := st.r.NewStyle().Width(max(cw, 10))
	how := "The feed ended by itself and the pipeline drained"
	if p.stopped {
		how = "The run reached its time limit and the pipeline drained"
	}
	switch lost := s.Produced - s.StoredTrades; {
	case lost > 0:
		how += ", but " + fmtInt(lost) + " of the " + fmtInt(s.Produced) + " trades produced were not stored."
	default:
		how += ": every trade produced is stored."
	}
	p.lines = append(p.lines, splitLines(wrap.Render(how))...)
	p.lines = append(p.lines, "")

	const labelW = 18
	kv := func(k, v string) {
		p.lines = append(p.lines, st.Dim.Render(fit(k, labelW))+v)
	}
	dur := s.Time.Sub(s.Started)
	if !s.Started.IsZero() {
		kv("ran", clock(s.Started)+"–"+clock(s.Time)+" "+zone(s.Time)+" ("+fmtUptime(dur)+")")
	}
	kv("produced", fmtInt(s.Produced)+" trades")
	stored := fmtInt(s.StoredTrades) + " trades"
	if s.Candles > 0 {
		stored += " · " + fmtInt(s.Candles) + " candles"
	}
	kv("stored", stored)
	kv("late", fmtInt(s.Late)+st.Dim.Render(" (past their windows: stored, not in candles)"))
	kv("duplicates", fmtInt(s.Duplicates)+st.Dim.Render(" (read twice, stored once)"))
	kv("bad messages", fmtInt(s.Bad))
	dropped := "0"
	if s.Feed != nil {
		dropped = fmtInt(s.Feed.Dropped)
		if s.Feed.Bad > 0 {
			kv("bad feed input", fmtInt(s.Feed.Bad))
		}
	}
	kv("dropped by feed", dropped)
	kv("errors", fmtInt(s.Errors))
	lat := s.Latency
	if lat.N > 0 {
		kv("latency p50", fmtLatency(lat.P50)+st.Dim.Render(" ingest to stored, whole run"))
		kv("latency p99", fmtLatency(lat.P99))
		kv("latency max", fmtLatency(lat.Max))
	} else {
		kv("latency", "–"+st.Dim.Render(" (nothing stored)"))
	}
	if secs := dur.Seconds(); secs > 0 {
		kv("throughput", fmtRate(float64(s.StoredTrades)/secs)+" trades/s stored")
	}

	// The latest errors, newest first, one line each.
	var errs []state.Event
	for _, e := range slices.Backward(s.Events) {
		if e.Level >= slog.LevelError && len(errs) < maxSummaryErrors {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		p.lines = append(p.lines, "", st.Head.Render("latest errors"))
		for _, e := range errs {
			p.lines = append(p.lines, st.Dim.Render(clock(e.Time)+" "+e.Source+" ")+oneLine(e.Message))
		}
	}
}

// View draws the summary as a card at the top of the body, centred.
func (p *summaryScreen) View() string {
	if p.w <= 0 || p.h <= 0 {
		return ""
	}
	info := ""
	if p.s != nil {
		info = p.s.Source
	}
	h := min(len(p.lines)+2, p.h)
	card := p.st.box(p.boxW, h, true, "Run ended", info, p.lines)
	x := (p.w - p.boxW) / 2
	return compose(rect{0, 0, p.w, p.h}, []block{{rect{x, 0, p.boxW, h}, splitLines(card)}})
}
