package tui

import (
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/pipeline"
)

// eventsPane shows the pipeline's errors, warnings and recoveries, newest
// first, each labelled with its level, as the pipeline rate-limits them (one
// per source and level every few seconds, with a count of those held back),
// and the UI's own notes, at level info: pause, resume, drain.
type eventsPane struct {
	st     *Styles
	w, h   int
	offset int
	rows   []eventRow
	notes  []eventRow // the UI's own, newest last
	errors int64
	late   int64
	bad    int64
}

type eventRow struct {
	pipeline.Event
	note bool
}

// maxNotes bounds the UI's own notes.
const maxNotes = 20

// SetSize gives the pane its outer size.
func (p *eventsPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.scroll(0)
}

// note adds one of the UI's own events.
func (p *eventsPane) note(at time.Time, msg string) {
	if len(p.notes) == maxNotes {
		p.notes = slices.Delete(p.notes, 0, 1)
	}
	p.notes = append(p.notes, eventRow{Event: pipeline.Event{Time: at, Source: "tradetop", Message: msg}, note: true})
	p.merge(nil)
}

// update takes the snapshot's events, oldest first, and counters.
func (p *eventsPane) update(s *pipeline.Snapshot) {
	p.errors, p.late, p.bad = s.Errors, s.Late, s.Bad
	p.merge(s.Events)
}

// merge lists pipeline events and notes together, newest first. With
// events nil it keeps the pipeline events it has.
func (p *eventsPane) merge(events []pipeline.Event) {
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
	slices.SortStableFunc(rows, func(a, b eventRow) int { return b.Time.Compare(a.Time) })
	p.rows = rows
	p.scroll(0)
}

func (p *eventsPane) scroll(d int) {
	p.offset = min(max(p.offset+d, 0), max(len(p.rows)-(p.h-2), 0))
}

// View draws the pane.
func (p *eventsPane) View(focused bool) string {
	st := p.st
	body := make([]string, 0, p.h)
	if len(p.rows) == 0 {
		body = append(body, st.Dim.Render("no warnings or errors"))
	}
	srcW := 8
	for _, r := range p.rows {
		srcW = max(srcW, min(len(r.Source), 18))
	}
	for i := p.offset; i < len(p.rows) && len(body) < p.h-2; i++ {
		r := p.rows[i]
		ls := st.Level(r.Level)
		if r.note {
			ls = st.Dim
		}
		label := ls.Render(fit(levelLabel(r.Level), 5) + " " + fit(r.Source, srcW))
		line := st.Dim.Render(clock(r.Time)+" ") + label + " " + oneLine(r.Message)
		if r.Repeats > 0 {
			line += st.Dim.Render(" (+" + strconv.Itoa(r.Repeats) + " held back)")
		}
		body = append(body, line)
	}
	info := "errors " + fmtInt(p.errors) + " · late " + fmtInt(p.late) + " · bad " + fmtInt(p.bad)
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
