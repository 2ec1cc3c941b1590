package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"

	"github.com/tradetop/tradetop/monitor"
)

// helpScreen is the full help: every key the UI answers to, grouped by
// where it works and laid out in as many columns as fit, then what the
// health words and the lag verdicts mean. It scrolls when it is taller than
// the body, so that every key is reachable on a small terminal.
type helpScreen struct {
	st     *Styles
	w, h   int
	offset int
	lines  []string
}

// helpSection is a group of keys in the full help.
type helpSection struct {
	title string
	keys  []key.Binding
}

// SetSize gives the screen the body's size.
func (p *helpScreen) SetSize(w, h int) {
	p.w, p.h = w, h
	p.scroll(0)
}

// rows is how many lines show at once.
func (p *helpScreen) rows() int { return max(p.h-2, 1) }

// scroll moves the view by d lines.
func (p *helpScreen) scroll(d int) {
	p.offset = min(max(p.offset+d, 0), max(len(p.lines)-p.rows(), 0))
}

// update lays the keys of sections and the legend out for the width;
// window is the span the partition verdicts are judged over, now the time
// of the latest snapshot.
func (p *helpScreen) update(sections []helpSection, window time.Duration, now time.Time) {
	st := p.st
	cw := p.w - 4
	p.lines = p.lines[:0]
	if cw <= 0 {
		return
	}
	p.lines = append(p.lines, p.keyColumns(sections, cw)...)
	win := fmtSpan(window)
	legend := []struct{ head, text string }{
		{"Stage health", "ok · slow: retries, Kafka warnings or seconds of unread backlog in the last seconds · " +
			"down: work waiting and no progress for " + fmtSpan(monitor.StallAfter) + " · paused, stopped: on purpose."},
		{"Partition verdicts", "judged from the group's committed offsets over " + win + " (twice the longest window plus lateness): " +
			"OK · WARN: the lag's low points rise · STALL: reads go on but no commit · STOP: no commit and no reads · " +
			"PAUSED: the feed is paused, nothing new arrives."},
		{"Two kinds of lag", "an offset is committed at the read position once the trades read before it are stored, " +
			"so LAG (what any Kafka tool sees) is UNREAD (what really waits) plus what is read and not yet stored, " +
			"the little a restart reads again; oldest is the age of the oldest unread trade."},
		{"Charts", "the trend sparklines zoom out from a second a column as the session grows, and say the span they cover; " +
			"enter shows a symbol's price, its stored candles (w changes the window, [ and ] page through what is stored; " +
			"a rising candle is drawn hollow, a falling one solid) and its statistics."},
		{"Times", "are local, in the zone named beside them: " + zone(now) + "."},
		{"The end", "q drains what was produced, then exits; a run that ends by itself (--count, --duration, " +
			"the end of a replay) shows its summary until a key is pressed."},
	}
	p.lines = append(p.lines, "")
	wrap := st.r.NewStyle().Width(max(cw, 10))
	for _, l := range legend {
		text := st.Head.Render(l.head) + "  " + l.text
		p.lines = append(p.lines, splitLines(wrap.Render(text))...)
		p.lines = append(p.lines, "")
	}
	p.lines = append(p.lines, st.Dim.Render("? or esc closes this help"))
	p.scroll(0)
}

// keyColumns lays the sections out in as many columns as fit width cw,
// each section a title and its keys, the sections of a column one under
// the other. It picks the split that makes the columns shortest.
func (p *helpScreen) keyColumns(sections []helpSection, cw int) []string {
	st := p.st
	const gap = 3
	drawn := make([][]string, len(sections))
	widths := make([]int, len(sections))
	for i, s := range sections {
		kw := 0
		for _, b := range s.keys {
			kw = max(kw, width(b.Help().Key))
		}
		lines := []string{st.Head.Render(s.title)}
		w := width(s.title)
		for _, b := range s.keys {
			h := b.Help()
			lines = append(lines, st.Key.Render(fit(h.Key, kw))+" "+st.Desc.Render(h.Desc))
			w = max(w, kw+1+width(h.Desc))
		}
		drawn[i], widths[i] = lines, w
	}
	// Each column holds sections[cuts[j]:cuts[j+1]].
	colHeight := func(a, b int) int {
		h := 0
		for i := a; i < b; i++ {
			h += len(drawn[i])
			if i > a {
				h++ // a blank line between sections
			}
		}
		return h
	}
	colWidth := func(a, b int) int {
		w := 0
		for i := a; i < b; i++ {
			w = max(w, widths[i])
		}
		return w
	}
	var best []int
	bestH := 0
	var try func(cuts []int)
	try = func(cuts []int) {
		last := cuts[len(cuts)-1]
		if last == len(sections) {
			w, h := 0, 0
			for j := 0; j+1 < len(cuts); j++ {
				w += colWidth(cuts[j], cuts[j+1])
				h = max(h, colHeight(cuts[j], cuts[j+1]))
			}
			w += gap * (len(cuts) - 2)
			if w <= cw && (best == nil || h < bestH) {
				best, bestH = append([]int(nil), cuts...), h
			}
			return
		}
		for next := last + 1; next <= len(sections); next++ {
			try(append(cuts, next))
		}
	}
	try([]int{0})
	if best == nil {
		// Not even one column fits: one, cut at the width.
		best = []int{0, len(sections)}
	}
	var cols []string
	var colW []int
	for j := 0; j+1 < len(best); j++ {
		var lines []string
		for i := best[j]; i < best[j+1]; i++ {
			if i > best[j] {
				lines = append(lines, "")
			}
			lines = append(lines, drawn[i]...)
		}
		cols = append(cols, strings.Join(lines, "\n"))
		colW = append(colW, colWidth(best[j], best[j+1]))
	}
	out := make([]string, 0, bestH)
	split := make([][]string, len(cols))
	for j, c := range cols {
		split[j] = splitLines(c)
	}
	for y := range bestH {
		var b strings.Builder
		for j, lines := range split {
			if j > 0 {
				b.WriteString(spaces(gap))
			}
			line := ""
			if y < len(lines) {
				line = lines[y]
			}
			if j < len(split)-1 {
				line = fit(line, colW[j])
			}
			b.WriteString(line)
		}
		out = append(out, b.String())
	}
	return out
}

// View draws the help, from the line scrolled to.
func (p *helpScreen) View() string {
	info := ""
	if n := len(p.lines); n > p.rows() {
		last := min(p.offset+p.rows(), n)
		info = "lines " + strconv.Itoa(p.offset+1) + "–" + strconv.Itoa(last) + " of " + strconv.Itoa(n)
		if last < n {
			info += " · ↓ more"
		}
	}
	return p.st.box(p.w, p.h, true, "Help", info, p.lines[min(p.offset, len(p.lines)):])
}
