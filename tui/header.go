package tui

import (
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/state"
)

// headerHeight is the header's lines.
const headerHeight = 2

// header draws the top two lines: what runs where, at what rate and since
// when, then each stage's health and the rates. Items that do not fit are
// left out, least important first. state is what the pipeline is doing
// when it is not simply running; pace the feed's rate, if it has one.
func header(st *Styles, w int, s *state.Snapshot, stages [len(monitor.StageNames)]monitor.Health, state, pace string) string {
	if w <= 0 {
		return ""
	}
	app := st.App.Render("tradetop")
	if s == nil {
		if state == "" {
			state = st.Dim.Render("starting the pipeline…")
		}
		return fit(app+" "+state, w) + "\n" + spaces(w)
	}

	// Line 1: source, broker and store on the left; state and uptime right.
	right := "up " + fmtUptime(s.Time.Sub(s.Started))
	if s.Started.IsZero() {
		right = "up 0:00:00"
	}
	if pace != "" {
		right = pace + "  " + right
	}
	if state != "" {
		right = state + "  " + right
	}
	sep := st.Dim.Render(" │ ")
	line1 := spread(where(st, s, w-width(right)-1), right, w)

	// Line 2: health dots, then rates and counters while they fit.
	var dots []string
	for i, h := range stages {
		dots = append(dots, healthStyle(st, h).Render("●")+" "+monitor.StageNames[i]+" "+healthStyle(st, h).Render(h.String()))
	}
	in := st.Dim.Render("in ") + fmtRate(s.InRate) + st.Dim.Render("/s")
	storedRate := st.Dim.Render("stored ") + fmtRate(s.StoredRate) + st.Dim.Render("/s")
	items := []string{
		strings.Join(dots, "  "),
		in + "  " + storedRate,
		recentLatency(st, s.RecentLatency),
		st.Dim.Render("stored ") + fmtInt(s.StoredTrades) + st.Dim.Render(" of ") + fmtInt(s.Produced),
		counts(st, s),
	}
	// A process of one role counts only its half of the pipeline.
	switch s.Role {
	case "ingest":
		items = []string{items[0], in, st.Dim.Render("produced ") + fmtInt(s.Produced), counts(st, s)}
	case "process":
		items = []string{items[0], storedRate, items[2], st.Dim.Render("stored ") + fmtInt(s.StoredTrades), counts(st, s)}
	}
	line2 := items[0]
	used := ansi.StringWidth(line2)
	for _, it := range items[1:] {
		iw := ansi.StringWidth(it) + 3
		if used+iw > w {
			break
		}
		line2 += sep + it
		used += iw
	}
	return fit(line1, w) + "\n" + fit(line2, w)
}

// where says what runs where in at most w cells: the source, the broker
// and the store, each named in full, or by its kind alone (embedded,
// sqlite), or left out, the broker first, rather than cut mid-word.
func where(st *Styles, s *state.Snapshot, w int) string {
	sep := st.Dim.Render(" │ ")
	app := st.App.Render("tradetop") + " " + s.Source
	type part struct{ label, full string }
	parts := []part{{"kafka ", s.Broker}, {"store ", s.Store}}
	draw := func(short [2]bool, shown [2]bool) string {
		out := app
		for i, p := range parts {
			if p.full == "" || !shown[i] {
				continue
			}
			v := p.full
			if short[i] {
				v = kind(v)
			}
			out += sep + st.Dim.Render(p.label) + v
		}
		return out
	}
	for _, c := range []struct{ short, shown [2]bool }{
		{[2]bool{false, false}, [2]bool{true, true}},
		{[2]bool{true, false}, [2]bool{true, true}},
		{[2]bool{true, true}, [2]bool{true, true}},
		{[2]bool{true, false}, [2]bool{false, true}},
		{[2]bool{true, true}, [2]bool{false, true}},
	} {
		if out := draw(c.short, c.shown); width(out) <= w {
			return out
		}
	}
	return fit(app, w)
}

// kind is the first word of a broker's or a store's description: its kind
// (embedded, sqlite, cassandra) or its first address.
func kind(s string) string {
	s = strings.Trim(s, "[]")
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

// counts is the header's tally of trades left out or refused, and errors.
// Duplicates are named only when there were some: a healthy run has none.
func counts(st *Styles, s *state.Snapshot) string {
	out := st.Dim.Render("late ") + fmtInt(s.Late)
	if s.Duplicates > 0 {
		out += st.Dim.Render(" dup ") + fmtInt(s.Duplicates)
	}
	return out + st.Dim.Render(" bad ") + fmtInt(s.Bad) + st.Dim.Render(" errors ") + fmtInt(s.Errors)
}

// spread puts left and right on one line of width w, cutting left first.
func spread(left, right string, w int) string {
	rw := ansi.StringWidth(right)
	if rw+2 > w {
		return fit(right, w)
	}
	left = fit(left, w-rw-1)
	return left + " " + right
}

func healthStyle(st *Styles, h monitor.Health) lipgloss.Style {
	switch h {
	case monitor.Slow:
		return st.Warn
	case monitor.Down:
		return st.Bad
	case monitor.Paused, monitor.Stopped, monitor.Elsewhere:
		return st.Idle
	}
	return st.OK
}

// recentLatency is the header's latency item: the median and p99 from
// ingest to stored over the trades stored in the last few seconds, which
// recover after a slow spell, where the whole run's do not.
func recentLatency(st *Styles, l state.Latency) string {
	p50, p99 := "–", "–"
	if l.N > 0 {
		p50, p99 = fmtLatency(l.P50), fmtLatency(l.P99)
	}
	return st.Dim.Render("p50 ") + p50 + st.Dim.Render(" p99 ") + p99 + st.Dim.Render(" last "+fmtSpan(pipeline.RecentWindow))
}

// fmtLatency prints a latency in milliseconds, or seconds past ten.
func fmtLatency(d time.Duration) string {
	if d >= 10*time.Second {
		return fmtAge(d)
	}
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return trimFloat(ms, 1) + "ms"
	}
	return trimFloat(ms, 0) + "ms"
}
