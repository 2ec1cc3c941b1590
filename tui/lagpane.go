package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/sparkline"
	"github.com/charmbracelet/lipgloss"

	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/state"
)

// lagPane shows the topic's consumer lag: per partition the end and
// committed offsets, the committed lag, what is not read yet, the rates and
// a Burrow-like verdict; then the total committed lag as a sparkline over
// time, the age of the oldest unread trade and an estimated time to drain.
type lagPane struct {
	st     *Styles
	mon    *monitor.Monitor
	window time.Duration // the span verdicts are judged over
	w, h   int
	offset int  // first partition row on screen
	paused bool // the feed is paused: nothing new arrives to judge by
	topic  string
	group  string
	// members is the group's member count, -1 before the group was read;
	// idle says this process is a member the group gave no partition.
	members int
	idle    bool
	unread  int64
	trail   int64 // read by this instance and not yet committed
	total   int64
	known   bool // a lag read has arrived
	read    string
	sum     monitor.Summary
	rows    []monitor.Partition
	spark   sparkline.Model
	graph   string // the drawn sparkline
	drawn   int    // the lag read the graph shows
	sparkH  int
	vals    []float64
}

// SetSize gives the pane its outer size.
func (p *lagPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.offset = min(p.offset, max(len(p.rows)-p.partRows(), 0))
	p.drawGraph()
}

// need is the height that shows every partition and a one-line graph.
func (p *lagPane) need() int { return max(len(p.rows), 1) + 3 + 2 }

// partRows is how many partition rows fit, leaving the heading, the graph
// and the summary line, and a note of which rows show when not all fit.
func (p *lagPane) partRows() int {
	room := max(p.h-2-1-2, 1)
	if len(p.rows) > room {
		room = max(room-1, 1)
	}
	return room
}

// noteRows is 1 when not every partition fits.
func (p *lagPane) noteRows() int {
	if len(p.rows) > p.partRows() {
		return 1
	}
	return 0
}

// update takes the snapshot and the monitor's judgement of it. What is
// unread, per partition and in total, comes from the snapshot's own lag
// read and positions, so the total is the sum of the rows.
func (p *lagPane) update(s *state.Snapshot, r *monitor.Report) {
	p.topic, p.group = s.Topic, s.Group
	p.members = -1
	if !s.GroupTime.IsZero() {
		p.members = len(s.Members)
	}
	p.idle = s.Joined && len(s.Assigned) == 0
	p.paused = s.Paused
	p.total = s.TotalLag
	p.known = !s.LagTime.IsZero()
	if p.known {
		p.read = fmtAge(s.Time.Sub(s.LagTime))
	}
	p.unread = r.Unread
	p.sum = r.Summary
	p.window = r.Window
	p.rows = append(p.rows[:0], r.Partitions...)
	p.offset = min(p.offset, max(len(p.rows)-p.partRows(), 0))
	if r.Reads != p.drawn {
		p.drawn = r.Reads
		p.drawGraph()
	}
}

// drawGraph draws the total-lag sparkline into the rows left over.
func (p *lagPane) drawGraph() {
	cw := p.w - 4
	shown := min(len(p.rows), p.partRows())
	p.sparkH = max(p.h-2-1-shown-p.noteRows()-1, 1)
	if p.sparkH >= 4 {
		p.sparkH -= 2 // room for the summary spelt out
	}
	p.sparkH = min(p.sparkH, 16)
	gw := cw - 12
	if gw < 4 {
		p.graph = ""
		return
	}
	if p.spark.Width() != gw || p.spark.Height() != p.sparkH {
		p.spark = sparkline.New(gw, p.sparkH)
	}
	p.vals = p.mon.TotalLag(p.vals[:0], gw)
	hi := 1.0
	for _, v := range p.vals {
		hi = max(hi, v)
	}
	p.spark.SetMax(hi)
	// Blank columns before a short history replace the rest of the ring,
	// without a Clear (which allocates a canvas of its own).
	for range gw - len(p.vals) {
		p.spark.Push(0)
	}
	p.spark.PushAll(p.vals)
	p.spark.DrawColumnsOnly()
	p.graph = p.st.Graph.Render(plainView(&p.spark.Canvas))
}

// scroll moves the partition rows by d.
func (p *lagPane) scroll(d int) {
	p.offset = min(max(p.offset+d, 0), max(len(p.rows)-p.partRows(), 0))
}

// View draws the pane.
func (p *lagPane) View(focused bool) string {
	st := p.st
	cw := p.w - 4
	info := p.topic + " · group " + p.group
	switch {
	case p.members == 1:
		info += " · 1 member"
	case p.members >= 0:
		info += " · " + strconv.Itoa(p.members) + " members"
	}
	if p.idle {
		info += " · idle here"
	}
	body := make([]string, 0, p.h)
	if !p.known {
		body = append(body, st.Dim.Render("waiting for the first offsets read…"))
		return st.box(p.w, p.h, focused, "Topic lag", info, body)
	}

	// Column plan: offsets get commas when there is room.
	wide := cw >= 3+3*12+8+16+7
	numW, committed := 8, "COMMIT"
	if wide {
		numW, committed = 12, "COMMITTED"
	}
	base := 3 + 3*numW + 7
	withUnread := cw >= base+8
	// Who owns each partition, once the group has more than this process:
	// before the rates when there is room for only one of them.
	withOwner := cw >= base+8+ownerW && p.members > 1
	withRates := cw >= base+8+16
	if withOwner {
		withRates = cw >= base+8+16+ownerW
	}
	var h strings.Builder
	h.WriteString(padLeft("P", 3))
	h.WriteString(padLeft("END", numW))
	h.WriteString(padLeft(committed, numW))
	h.WriteString(padLeft("LAG", numW))
	if withUnread {
		h.WriteString(padLeft("UNREAD", 8))
	}
	if withRates {
		h.WriteString(padLeft("IN/s", 8))
		h.WriteString(padLeft("READ/s", 8))
	}
	if withOwner {
		h.WriteString("  " + fit("OWNER", ownerW-2))
	}
	h.WriteString("  STATE")
	body = append(body, st.Head.Render(h.String()))

	num := strconv.FormatInt
	if wide {
		num = func(n int64, _ int) string { return fmtInt(n) }
	}
	shown := p.partRows()
	for i := p.offset; i < len(p.rows) && i < p.offset+shown; i++ {
		r := p.rows[i]
		var b strings.Builder
		b.WriteString(padLeft(strconv.Itoa(r.ID), 3))
		b.WriteString(padLeft(num(r.End, 10), numW))
		if r.Committed < 0 {
			b.WriteString(padLeft("none", numW))
		} else {
			b.WriteString(padLeft(num(r.Committed, 10), numW))
		}
		b.WriteString(padLeft(num(r.Lag, 10), numW))
		if withUnread {
			if r.Unread >= 0 {
				b.WriteString(padLeft(num(r.Unread, 10), 8))
			} else {
				b.WriteString(padLeft("—", 8))
			}
		}
		if withRates {
			b.WriteString(padLeft(fmtRate(r.In), 8))
			if r.Read >= 0 {
				b.WriteString(padLeft(fmtRate(r.Read), 8))
			} else {
				b.WriteString(padLeft("—", 8))
			}
		}
		if withOwner {
			b.WriteString("  " + ownerLabel(st, r, ownerW-2))
		}
		b.WriteString("  ")
		if p.paused && r.Verdict == monitor.OK {
			// Nothing arrives while the feed is paused: OK would say more
			// than is known.
			b.WriteString(p.st.Idle.Render("PAUSED"))
		} else {
			b.WriteString(p.verdictStyle(r.Verdict).Render(r.Verdict.String()))
		}
		body = append(body, b.String())
	}
	if p.noteRows() > 0 {
		// Say where the hidden rows are, and whether any needs a look.
		bad := 0
		for _, r := range p.rows {
			if r.Verdict != monitor.OK {
				bad++
			}
		}
		note := strconv.Itoa(p.offset+1) + "–" + strconv.Itoa(min(p.offset+shown, len(p.rows))) + " of " + strconv.Itoa(len(p.rows)) + " partitions"
		if bad > 0 {
			note += " · " + strconv.Itoa(bad) + " not OK"
		}
		body = append(body, st.Dim.Render(note))
	}

	// The total lag graph, its label on its first line.
	graph := strings.Split(p.graph, "\n")
	for i := range p.sparkH {
		label := spaces(11)
		switch i {
		case 0:
			label = fit("total lag", 11)
		case 1:
			label = st.Bold.Render(fit(fmtInt(p.total), 11))
		}
		line := label + " "
		if i < len(graph) {
			line += graph[i]
		}
		if p.sparkH == 1 {
			line = fit("lag "+fmtCompact(float64(p.total)), 11) + " "
			if i < len(graph) {
				line += graph[i]
			}
		}
		body = append(body, line)
	}
	body = append(body, p.summaryLines(p.h-2-len(body))...)
	return st.box(p.w, p.h, focused, "Topic lag", info, body)
}

// summaryLines say what is unread, how old it is and whether it drains,
// and how far the commits trail: on one line, or spelt out on three when
// there is room.
func (p *lagPane) summaryLines(room int) []string {
	st, s := p.st, p.sum
	read := []string{"unread " + fmtInt(p.unread)}
	if s.Reading {
		age := fmtAge(s.Oldest)
		if !s.OldestKnown {
			age = ">" + age
		}
		read = append(read, "oldest "+age)
		switch {
		case p.unread <= 0:
			read = append(read, "caught up")
		case s.Drain > 0:
			read = append(read, "drains in ~"+fmtAge(s.Drain))
		case s.OldestKnown && s.Oldest <= monitor.BehindAfter:
			read = append(read, "keeping up")
		default:
			read = append(read, st.Warn.Render("falling behind"))
		}
	}
	behind := fmtAge(s.CommitBehind)
	if !s.CommitKnown {
		behind = ">" + behind
	}
	commits := "commits " + behind + " behind"
	why := " (" + fmtInt(p.trail) + " read, not yet stored)"
	if !s.Committed {
		commits, why = "no commits yet", " (the first comes once the first trades are stored)"
	}
	when := "read " + p.read + " ago"
	if room < 3 {
		return []string{strings.Join(append(read, commits, when), " · ")}
	}
	return []string{
		strings.Join(read, " · "),
		commits + st.Dim.Render(why),
		st.Dim.Render("offsets " + when + " · verdicts over " + fmtSpan(p.window)),
	}
}

// ownerW is the width of the OWNER column, with its gap.
const ownerW = 18

// ownerLabel names the member that owns partition r in w cells: "this
// process", or the client ID without "tradetop-<role>-" (the host and the
// PID), or "none".
func ownerLabel(st *Styles, r monitor.Partition, w int) string {
	switch {
	case r.Mine:
		return st.Bold.Render(fit("this process", w))
	case r.Owner == "":
		return st.Dim.Render(fit("none", w))
	}
	name := r.Owner
	for _, role := range []string{"tradetop-process-", "tradetop-all-", "tradetop-ingest-"} {
		name = strings.TrimPrefix(name, role)
	}
	if r := []rune(name); len(r) > w {
		// The PID at the end tells members of one host apart: keep it.
		name = "…" + string(r[len(r)-w+1:])
	}
	return fit(name, w)
}

func (p *lagPane) verdictStyle(v monitor.Verdict) lipgloss.Style {
	switch v {
	case monitor.Warn:
		return p.st.Warn
	case monitor.Stall, monitor.Stop:
		return p.st.Bad
	}
	return p.st.OK
}
