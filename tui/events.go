package tui

import (
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/state"
)

// eventsPane shows the pipeline's errors, warnings and recoveries, newest
// first, each labelled with its level, as the pipeline rate-limits them (one
// per source and level every few seconds, with a count of those held back),
// the alerts that fired, highlighted and labelled ALERT, and re-armed, and
// the UI's own notes, at level info: pause, resume, drain. Focused, it
// has a cursor: an event can be shown whole, and the events searched.
// The selection follows the event, not the row, as newer ones arrive.
type eventsPane struct {
	st     *Styles
	w, h   int
	offset int
	rows   []eventRow // every event, newest first
	shown  []int      // indices into rows that match the search
	notes  []eventRow // the UI's own, newest last
	errors int64
	late   int64
	bad    int64

	selected eventKey
	picked   bool // the user chose the selection; until then it is the newest
	expanded bool // the selected event shows whole
	textOff  int  // first line of the expanded event on screen
	query    string
	typing   bool // the search is being typed on the pane's last line
}

type eventRow struct {
	state.Event
	note bool
}

// eventKey tells events apart across snapshots; the count held back grows
// on the same event.
type eventKey struct {
	t       time.Time
	source  string
	message string
}

func (r *eventRow) key() eventKey { return eventKey{r.Time, r.Source, r.Message} }

// fired says the row is an alert that fired.
func (r *eventRow) fired() bool {
	return !r.note && r.Source == state.AlertSource && r.Level >= slog.LevelWarn
}

// label names the row's level in at most five cells: ALERT for an alert
// that fired.
func (r *eventRow) label() string {
	if r.fired() {
		return "ALERT"
	}
	return levelLabel(r.Level)
}

// style is the style of the row's label: the level's, Alert for an alert
// that fired, Dim for the UI's own notes.
func (r *eventRow) style(st *Styles) lipgloss.Style {
	switch {
	case r.note:
		return st.Dim
	case r.fired():
		return st.Alert
	}
	return st.Level(r.Level)
}

// maxNotes bounds the UI's own notes.
const maxNotes = 20

// SetSize gives the pane its outer size.
func (p *eventsPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.clampOffset()
	p.scrollText(0)
}

// note adds one of the UI's own events.
func (p *eventsPane) note(at time.Time, msg string) {
	if len(p.notes) == maxNotes {
		p.notes = slices.Delete(p.notes, 0, 1)
	}
	p.notes = append(p.notes, eventRow{Event: state.Event{Time: at, Source: "tradetop", Message: msg}, note: true})
	p.merge(nil)
}

// update takes the snapshot's events, oldest first, and counters.
func (p *eventsPane) update(s *state.Snapshot) {
	p.errors, p.late, p.bad = s.Errors, s.Late, s.Bad
	p.merge(s.Events)
}

// merge lists pipeline events and notes together, newest first. With
// events nil it keeps the pipeline events it has.
func (p *eventsPane) merge(events []state.Event) {
	if events == nil {
		for _, r := range p.rows {
			if !r.note {
				events = append(events, r.Event)
			}
		}
	}
	rows := make([]eventRow, 0, len(events)+len(p.notes))
	for _, e := range events {
		rows = append(rows, eventRow{Event: e})
	}
	rows = append(rows, p.notes...)
	// Both come oldest first: reversed, events of one moment stay newest
	// first through the stable sort.
	slices.Reverse(rows)
	slices.SortStableFunc(rows, func(a, b eventRow) int { return b.Time.Compare(a.Time) })
	p.rows = rows
	p.search(p.query)
}

// search shows the events whose level, source or message contain q, in
// any case.
func (p *eventsPane) search(q string) {
	p.query = q
	q = strings.ToLower(q)
	p.shown = p.shown[:0]
	for i := range p.rows {
		r := &p.rows[i]
		if q == "" || strings.Contains(strings.ToLower(r.label()+" "+r.Source+" "+r.Message), q) {
			p.shown = append(p.shown, i)
		}
	}
	if (!p.picked || p.cursor() < 0) && len(p.shown) > 0 {
		p.selected = p.rows[p.shown[0]].key()
		p.picked = false
	}
	if len(p.shown) == 0 {
		p.expanded = false
	}
	p.clampOffset()
}

// cursor is the position of the selection among the shown events, or -1.
func (p *eventsPane) cursor() int {
	for i, ri := range p.shown {
		if p.rows[ri].key() == p.selected {
			return i
		}
	}
	return -1
}

// selectedRow returns the selected event, if it is shown.
func (p *eventsPane) selectedRow() (*eventRow, bool) {
	if i := p.cursor(); i >= 0 {
		return &p.rows[p.shown[i]], true
	}
	return nil, false
}

// move moves the selection by d shown events; back at the top, it
// follows the newest again.
func (p *eventsPane) move(d int) {
	if len(p.shown) == 0 {
		return
	}
	i := min(max(p.cursor()+d, 0), len(p.shown)-1)
	p.selected = p.rows[p.shown[i]].key()
	p.picked = i > 0
	p.clampOffset()
}

// pageRows is how many events fit, less the search's line when there is
// one.
func (p *eventsPane) pageRows() int {
	if p.typing || p.query != "" {
		return max(p.h-3, 1)
	}
	return max(p.h-2, 1)
}

// clampOffset scrolls so the selection is on screen.
func (p *eventsPane) clampOffset() {
	page := p.pageRows()
	if i := p.cursor(); i >= 0 {
		if i < p.offset {
			p.offset = i
		}
		if i >= p.offset+page {
			p.offset = i - page + 1
		}
	}
	p.offset = max(min(p.offset, len(p.shown)-page), 0)
}

// toggle shows the selected event whole, or goes back to the list.
func (p *eventsPane) toggle() {
	_, ok := p.selectedRow()
	p.expanded = !p.expanded && ok
	p.textOff = 0
}

// scrollText moves the expanded event's text by d lines.
func (p *eventsPane) scrollText(d int) {
	p.textOff = min(max(p.textOff+d, 0), max(len(p.expandedLines())-(p.h-2), 0))
}

// expandedLines is the selected event whole: when, how bad and from where,
// then its message wrapped to the pane, its own line breaks kept.
func (p *eventsPane) expandedLines() []string {
	r, ok := p.selectedRow()
	cw := p.w - 4
	if !ok || cw <= 0 {
		return nil
	}
	st := p.st
	head := st.Dim.Render(r.Time.Local().Format("2006-01-02 15:04:05.000 MST")+" ") + r.style(st).Render(r.label()+" "+r.Source)
	lines := splitLines(st.r.NewStyle().Width(cw).Render(head))
	if r.Repeats > 0 {
		lines = append(lines, st.Dim.Render("+"+strconv.Itoa(r.Repeats)+" more like it held back"))
	}
	lines = append(lines, "")
	msg := strings.ReplaceAll(ansi.Strip(r.Message), "\t", "    ")
	wrap := st.r.NewStyle().Width(cw)
	for _, l := range strings.Split(strings.ReplaceAll(msg, "\r", ""), "\n") {
		lines = append(lines, splitLines(wrap.Render(l))...)
	}
	return lines
}

// View draws the pane. searchLine is the search being typed, if it is.
func (p *eventsPane) View(focused bool, searchLine string) string {
	st := p.st
	info := "errors " + fmtInt(p.errors) + " · late " + fmtInt(p.late) + " · bad " + fmtInt(p.bad)
	if len(p.rows) > 0 {
		info = "times " + zone(p.rows[0].Time) + " · " + info
	}
	if p.query != "" {
		info = strconv.Itoa(len(p.shown)) + " of " + strconv.Itoa(len(p.rows)) + " match · " + info
	}
	if p.expanded {
		lines := p.expandedLines()
		i := p.cursor()
		info = "event " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(p.shown))
		if n := len(lines); n > p.h-2 {
			info += " · lines " + strconv.Itoa(p.textOff+1) + "–" + strconv.Itoa(min(p.textOff+p.h-2, n)) + " of " + strconv.Itoa(n)
		}
		info += " · enter or esc: back"
		return st.box(p.w, p.h, focused, "Events", info, lines[min(p.textOff, len(lines)):])
	}
	body := make([]string, 0, p.h)
	switch {
	case len(p.rows) == 0:
		body = append(body, st.Dim.Render("no warnings or errors"))
	case len(p.shown) == 0:
		body = append(body, st.Dim.Render("no event matches “"+p.query+"”"))
	}
	srcW := 8
	for _, r := range p.rows {
		srcW = max(srcW, min(len(r.Source), 18))
	}
	page := p.pageRows()
	for i := p.offset; i < len(p.shown) && i < p.offset+page; i++ {
		r := &p.rows[p.shown[i]]
		marker := "  "
		if focused && r.key() == p.selected {
			marker = st.selMarker + " "
		}
		label := r.style(st).Render(fit(r.label(), 5) + " " + fit(r.Source, srcW))
		msg := oneLine(r.Message)
		if r.fired() {
			msg = st.Bold.Render(msg)
		}
		line := marker + st.Dim.Render(clock(r.Time)+" ") + label + " " + msg
		if r.Repeats > 0 {
			line += st.Dim.Render(" (+" + strconv.Itoa(r.Repeats) + " held back)")
		}
		body = append(body, line)
	}
	if p.typing || p.query != "" {
		for len(body) < p.h-3 {
			body = append(body, "")
		}
		if p.typing {
			body = append(body, searchLine)
		} else {
			body = append(body, st.Dim.Render("search “"+p.query+"” · / to change · esc to clear"))
		}
	}
	return st.box(p.w, p.h, focused, "Events", info, body)
}

// levelLabel names an event's level in at most five cells, so that it
// shows without colour.
func levelLabel(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

// oneLine keeps a message on one line, without escape sequences of its own.
func oneLine(s string) string {
	s = ansi.Strip(s)
	if strings.ContainsAny(s, "\r\n\t") {
		s = strings.NewReplacer("\r", " ", "\n", " ", "\t", " ").Replace(s)
	}
	return s
}
