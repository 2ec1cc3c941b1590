package tui

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/tradetop/tradetop/trade"
)

// Browser looks inside the pipeline's topic and its dead-letter topic for
// the topic browser (key b), and re-drives dead letters. Its methods read
// or write Kafka and may take seconds: the UI calls them only from
// tea.Cmds. Any goroutine may call them.
type Browser interface {
	// Partitions returns the partitions of the topic, or of the
	// dead-letter topic when dlq, in order, with their offsets.
	Partitions(ctx context.Context, dlq bool) ([]PartitionRange, error)
	// Page returns at most n messages of a partition, newest first, that
	// come before offset before (-1: the partition's end).
	Page(ctx context.Context, dlq bool, partition int, before int64, n int) ([]TopicMessage, error)
	// Next returns at most n messages of a partition from offset from on,
	// oldest first, waiting up to wait for one to arrive: following.
	Next(ctx context.Context, dlq bool, partition int, from int64, n int, wait time.Duration) ([]TopicMessage, error)
	// OffsetAt returns the offset of the partition's first message at or
	// after t, or its end when there is none.
	OffsetAt(ctx context.Context, dlq bool, partition int, t time.Time) (int64, error)
	// Redrive copies the dead letter at offset of partition back to the
	// topic; a truncated one is refused.
	Redrive(ctx context.Context, partition int, offset int64) error
	// RedriveAll copies every dead letter back to the topic, up to the
	// dead-letter topic's end when asked, and says how many it copied and
	// how many it refused (truncated).
	RedriveAll(ctx context.Context) (copied, refused int, err error)
}

// PartitionRange is one partition and its offsets: the first retained and
// the end, the next message's.
type PartitionRange struct {
	Partition  int
	Start, End int64
}

// TopicMessage is one message of the topic or its dead-letter topic, its
// value decoded.
type TopicMessage struct {
	Partition int
	Offset    int64
	Time      time.Time
	Key       string
	Headers   []Header
	// Form is how the value is written: json, avro or avro registry id N.
	Form string
	// Trade is the value decoded, nil when it is not a valid trade.
	Trade *trade.Trade
	// Err says why the value is not a valid trade.
	Err string
	// DeadLetter is set for a dead letter.
	DeadLetter *DeadLetter
}

// Header is one message header, as text.
type Header struct{ Key, Value string }

// DeadLetter is why a message was dead-lettered and where it was read.
type DeadLetter struct {
	Reason string
	// Source is where it was read: topic/partition@offset.
	Source string
	// Truncated says its value was cut when it was dead-lettered: it
	// cannot be re-driven.
	Truncated bool
}

// Messages of the topic browser. seq is the browser's count of reads when
// the read was asked for: an answer to an older read is dropped.
type (
	browsePartsMsg struct {
		seq   int
		parts []PartitionRange
		err   error
	}
	browsePageMsg struct {
		seq  int
		msgs []TopicMessage
		err  error
	}
	browseNextMsg struct {
		seq  int
		msgs []TopicMessage
		err  error
	}
	browseOffsetMsg struct {
		seq    int
		offset int64
		err    error
	}
	browseRedriveMsg struct {
		what    string
		copied  int
		refused int
		err     error
	}
)

// browsePane is the topic browser: a partition's messages, newest first,
// a page at a time, or one message whole. It holds a page and what
// following adds, at most browseKept messages.
type browsePane struct {
	st   *Styles
	w, h int

	topic     string // the pipeline's topic, from the snapshots
	dlq       bool   // the dead-letter topic is shown
	parts     []PartitionRange
	part      int   // index in parts
	before    int64 // the page ends before this offset; -1: the newest
	msgs      []TopicMessage
	sel, top  int
	open      bool // the selected message shows whole
	following bool
	seq       int
	loading   bool
	err       string
	note      string
	now       time.Time
}

// browseKept is the most messages the browser holds while following.
const browseKept = 1000

// SetSize gives the pane the body's size.
func (p *browsePane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.scroll()
}

// pageRows is how many messages show at once.
func (p *browsePane) pageRows() int { return max(p.h-5, 1) }

// topicName is the name of the topic shown.
func (p *browsePane) topicName() string {
	t := p.topic
	if t == "" {
		t = "trades"
	}
	if p.dlq {
		return t + ".dlq"
	}
	return t
}

// partition is the partition shown, and whether there is one.
func (p *browsePane) partition() (PartitionRange, bool) {
	if p.part < 0 || p.part >= len(p.parts) {
		return PartitionRange{}, false
	}
	return p.parts[p.part], true
}

// selected is the selected message, and whether there is one.
func (p *browsePane) selected() (TopicMessage, bool) {
	if p.sel < 0 || p.sel >= len(p.msgs) {
		return TopicMessage{}, false
	}
	return p.msgs[p.sel], true
}

// move moves the selection by d messages.
func (p *browsePane) move(d int) {
	p.sel = min(max(p.sel+d, 0), max(len(p.msgs)-1, 0))
	p.scroll()
}

// scroll keeps the selection in view.
func (p *browsePane) scroll() {
	rows := p.pageRows()
	p.top = min(max(p.top, p.sel-rows+1), p.sel)
	p.top = max(min(p.top, len(p.msgs)-rows), 0)
}

// pending is how many messages the partitions hold.
func (p *browsePane) pending() int64 {
	var n int64
	for _, r := range p.parts {
		n += r.End - r.Start
	}
	return n
}

// takePage shows a page read, newest first.
func (p *browsePane) takePage(msgs []TopicMessage) {
	p.msgs, p.sel, p.top, p.open = msgs, 0, 0, false
	if len(msgs) == 0 {
		p.note = "no messages here"
		if r, ok := p.partition(); ok && p.before >= 0 && p.before <= r.Start {
			p.note = "nothing before offset " + fmtInt(p.before) + ": the oldest kept is " + fmtInt(r.Start)
		}
	}
}

// takeNext adds messages that followed, oldest first, to the top, keeping
// the selection on the message it was on.
func (p *browsePane) takeNext(msgs []TopicMessage) {
	if len(msgs) == 0 {
		return
	}
	added := make([]TopicMessage, 0, len(msgs)+len(p.msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		added = append(added, msgs[i])
	}
	p.msgs = append(added, p.msgs...)
	p.msgs = p.msgs[:min(len(p.msgs), browseKept)]
	if p.sel > 0 || p.open {
		p.sel = min(p.sel+len(msgs), len(p.msgs)-1)
	}
	if r, ok := p.partition(); ok {
		p.parts[p.part].End = max(r.End, msgs[len(msgs)-1].Offset+1)
	}
	p.scroll()
}

// followFrom is the offset the next message to follow has.
func (p *browsePane) followFrom() int64 {
	if len(p.msgs) > 0 {
		return p.msgs[0].Offset + 1
	}
	if r, ok := p.partition(); ok {
		return r.End
	}
	return 0
}

// View draws the browser: the list, or the selected message whole.
func (p *browsePane) View() string {
	if p.open {
		if m, ok := p.selected(); ok {
			return p.messageView(m)
		}
	}
	st := p.st
	info := ""
	if r, ok := p.partition(); ok {
		info = "partition " + strconv.Itoa(r.Partition) + " · offsets " + fmtInt(r.Start) + "–" + fmtInt(r.End)
	}
	switch {
	case p.following:
		info += " · following"
	case p.before >= 0:
		info += " · before " + fmtInt(p.before)
	default:
		info += " · newest"
	}
	info += " · times " + zone(p.now)
	body := []string{p.partitionStrip(), ""}
	cw := p.w - 4
	offW := 9
	timeW := len("15:04:05.000")
	keyW := 8
	head := "VALUE"
	if p.dlq {
		head = "WHY IT WAS DEAD-LETTERED"
	}
	body = append(body, st.Head.Render(" "+padLeft("OFFSET", offW)+"  "+fit("TIME", timeW)+"  "+fit("KEY", keyW)+"  "+head))
	switch {
	case p.err != "":
		body = append(body, st.Bad.Render(p.err))
	case p.loading && len(p.msgs) == 0:
		body = append(body, st.Dim.Render("reading "+p.topicName()+"…"))
	case len(p.msgs) == 0 && p.note != "":
		body = append(body, st.Dim.Render(p.note))
	}
	rows := p.pageRows()
	for i := p.top; i < min(p.top+rows, len(p.msgs)); i++ {
		m := p.msgs[i]
		what := messageSummary(m)
		if m.DeadLetter != nil {
			what = oneLine(m.DeadLetter.Reason)
		}
		line := padLeft(fmtInt(m.Offset), offW) + "  " + fit(m.Time.Local().Format("15:04:05.000"), timeW) + "  " + fit(m.Key, keyW) + "  "
		if i == p.sel {
			body = append(body, st.selMarker+st.Selected.Render(fit(line+what, cw-1)))
			continue
		}
		style := st.Dim
		if m.Trade != nil {
			style = st.Bold
		}
		body = append(body, " "+line+style.Render(what))
	}
	return st.box(p.w, p.h, true, "Topic "+p.topicName(), info, body)
}

// partitionStrip names the partitions, the one shown in brackets, with
// how many messages each holds.
func (p *browsePane) partitionStrip() string {
	st := p.st
	other := "t: dead letters"
	if p.dlq {
		other = "t: the topic"
	}
	var b strings.Builder
	b.WriteString(st.Dim.Render("partitions ←/→ "))
	for i, r := range p.parts {
		label := strconv.Itoa(r.Partition) + ":" + fmtCompact(float64(r.End-r.Start))
		if i == p.part {
			b.WriteString(st.Title.Render("[" + label + "]"))
		} else {
			b.WriteString(" " + label + " ")
		}
	}
	if len(p.parts) == 0 {
		b.WriteString(st.Dim.Render("none read yet"))
	}
	b.WriteString(st.Dim.Render("  · " + other))
	return b.String()
}

// messageSummary is a message's value in one line: the trade, or why it
// is not one.
func messageSummary(m TopicMessage) string {
	if t := m.Trade; t != nil {
		return t.Symbol + " " + fmtPrice(t.Price) + " × " + strconv.FormatFloat(t.Volume, 'f', -1, 64) + " · " + m.Form
	}
	return "not a trade (" + m.Form + "): " + oneLine(m.Err)
}

// messageView draws one message whole.
func (p *browsePane) messageView(m TopicMessage) string {
	st := p.st
	lw := 12
	for _, h := range m.Headers {
		lw = max(lw, width(h.Key)+4)
	}
	label := func(s string) string { return st.Head.Render(fit(s, lw)) }
	body := []string{
		label("timestamp") + m.Time.Local().Format("2006-01-02 15:04:05.000 MST"),
		label("key") + strconv.Quote(m.Key),
		label("form") + m.Form,
	}
	if d := m.DeadLetter; d != nil {
		body = append(body, "", st.Warn.Render("dead letter"),
			label("  why")+oneLine(d.Reason),
			label("  read from")+d.Source)
		if d.Truncated {
			body = append(body, st.Bad.Render("  its value was truncated: it cannot be re-driven"))
		}
	}
	body = append(body, "")
	if t := m.Trade; t != nil {
		body = append(body, st.Title.Render("trade"),
			label("  id")+t.ID,
			label("  symbol")+t.Symbol,
			label("  price")+strconv.FormatFloat(t.Price, 'f', -1, 64),
			label("  volume")+strconv.FormatFloat(t.Volume, 'f', -1, 64),
			label("  time")+t.Time.Local().Format("2006-01-02 15:04:05.000000000 MST"))
	} else {
		body = append(body, st.Bad.Render("not a trade: ")+oneLine(m.Err))
	}
	if len(m.Headers) > 0 {
		body = append(body, "", st.Title.Render("headers"))
		for _, h := range m.Headers {
			body = append(body, label("  "+h.Key)+oneLine(h.Value))
		}
	}
	info := "offset " + fmtInt(m.Offset) + " · enter or esc: back"
	title := "Message " + p.topicName() + "/" + strconv.Itoa(m.Partition) + "@" + strconv.FormatInt(m.Offset, 10)
	return st.box(p.w, p.h, true, title, info, body)
}
