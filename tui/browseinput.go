package tui

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// browseTimeout bounds one read of the topic browser, past the wait of a
// follow.
const browseTimeout = 15 * time.Second

// browseWait is how long one read of a follow waits for new messages.
const browseWait = time.Second

// redriveAsk is a re-drive that awaits its y.
type redriveAsk struct {
	all       bool
	partition int
	offset    int64
	question  string
}

// openBrowser shows the topic browser, or says why there is none.
func (m Model) openBrowser() (tea.Model, tea.Cmd) {
	if m.opts.Browser == nil {
		m.flash = "no topic browser here: it runs in the process that runs the pipeline; or use tradetop topic --brokers …"
		return m, nil
	}
	m.screen = browse
	p := &m.browse
	p.now = m.now()
	if m.snap != nil && m.snap.Topic != "" {
		p.topic = m.snap.Topic
	}
	return m, m.readPartitions()
}

// readPartitions reads the partitions of the topic shown, then its page.
func (m *Model) readPartitions() tea.Cmd {
	p, b := &m.browse, m.opts.Browser
	p.seq++
	p.loading, p.err, p.note = true, "", ""
	seq, dlq := p.seq, p.dlq
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), browseTimeout)
		defer cancel()
		parts, err := b.Partitions(ctx, dlq)
		return browsePartsMsg{seq: seq, parts: parts, err: err}
	}
}

// readPage reads the page of the partition shown that ends before
// p.before.
func (m *Model) readPage() tea.Cmd {
	p, b := &m.browse, m.opts.Browser
	r, ok := p.partition()
	if !ok {
		return nil
	}
	p.seq++
	p.loading, p.err, p.note = true, "", ""
	seq, dlq, before, n := p.seq, p.dlq, p.before, min(p.pageRows(), browseKept)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), browseTimeout)
		defer cancel()
		msgs, err := b.Page(ctx, dlq, r.Partition, before, n)
		return browsePageMsg{seq: seq, msgs: msgs, err: err}
	}
}

// readNext waits for the messages after those shown, while following.
func (m *Model) readNext() tea.Cmd {
	p, b := &m.browse, m.opts.Browser
	r, ok := p.partition()
	if !ok || !p.following {
		return nil
	}
	seq, dlq, from := p.seq, p.dlq, p.followFrom()
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), browseWait+browseTimeout)
		defer cancel()
		msgs, err := b.Next(ctx, dlq, r.Partition, from, 200, browseWait)
		return browseNextMsg{seq: seq, msgs: msgs, err: err}
	}
}

// findOffset looks up the offset of time t in the partition shown, then
// reads the page before it.
func (m *Model) findOffset(t time.Time) tea.Cmd {
	p, b := &m.browse, m.opts.Browser
	r, ok := p.partition()
	if !ok {
		return nil
	}
	p.seq++
	p.loading, p.err, p.note = true, "", ""
	seq, dlq := p.seq, p.dlq
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), browseTimeout)
		defer cancel()
		off, err := b.OffsetAt(ctx, dlq, r.Partition, t)
		return browseOffsetMsg{seq: seq, offset: off, err: err}
	}
}

// onBrowseParts takes the partitions read and reads the page shown.
func (m Model) onBrowseParts(msg browsePartsMsg) (tea.Model, tea.Cmd) {
	p := &m.browse
	if msg.seq != p.seq {
		return m, nil
	}
	p.loading = false
	if msg.err != nil {
		p.err = "reading " + p.topicName() + ": " + oneLine(msg.err.Error())
		return m, nil
	}
	p.parts = msg.parts
	p.part = min(max(p.part, 0), max(len(p.parts)-1, 0))
	return m, m.readPage()
}

// onBrowsePage shows the page read, and starts following when asked.
func (m Model) onBrowsePage(msg browsePageMsg) (tea.Model, tea.Cmd) {
	p := &m.browse
	if msg.seq != p.seq {
		return m, nil
	}
	p.loading = false
	if msg.err != nil {
		p.err = "reading " + p.topicName() + ": " + oneLine(msg.err.Error())
		p.following = false
		return m, nil
	}
	p.takePage(msg.msgs)
	return m, m.readNext()
}

// onBrowseNext adds what a follow brought, and waits for more.
func (m Model) onBrowseNext(msg browseNextMsg) (tea.Model, tea.Cmd) {
	p := &m.browse
	if msg.seq != p.seq || !p.following || m.screen != browse {
		return m, nil
	}
	if msg.err != nil {
		p.err = "following " + p.topicName() + ": " + oneLine(msg.err.Error())
		p.following = false
		return m, nil
	}
	p.takeNext(msg.msgs)
	return m, m.readNext()
}

// onBrowseOffset reads the page that ends at the offset a time led to.
func (m Model) onBrowseOffset(msg browseOffsetMsg) (tea.Model, tea.Cmd) {
	p := &m.browse
	if msg.seq != p.seq {
		return m, nil
	}
	if msg.err != nil {
		p.loading = false
		p.err = "finding the time: " + oneLine(msg.err.Error())
		return m, nil
	}
	p.before = msg.offset
	return m, m.readPage()
}

// onBrowseKey moves through the messages, partitions and topics, pages,
// follows, opens a message, and asks to re-drive dead letters.
func (m Model) onBrowseKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	p := &m.browse
	if p.open {
		if key.Matches(msg, m.keys.Back, m.keys.Enter) {
			p.open = false
		}
		return m, nil
	}
	switch msg.String() {
	case "esc":
		m.screen = dashboard
		p.following = false
		p.seq++ // what is under way is dropped
		return m, nil
	case "enter":
		if _, ok := p.selected(); ok {
			p.open = true
		}
		return m, nil
	case "up", "k":
		p.move(-1)
	case "down", "j":
		p.move(1)
	case "pgup", "ctrl+u":
		p.move(-p.pageRows())
	case "pgdown", "ctrl+d":
		p.move(p.pageRows())
	case "left", "h", "right", "l":
		d := 1
		if s := msg.String(); s == "left" || s == "h" {
			d = -1
		}
		if len(p.parts) > 1 {
			p.part = (p.part + d + len(p.parts)) % len(p.parts)
			p.before, p.following = -1, false
			return m, m.readPage()
		}
	case "t":
		p.dlq = !p.dlq
		p.part, p.before, p.following, p.msgs = 0, -1, false, nil
		return m, m.readPartitions()
	case "[":
		return m.onBrowseOlder()
	case "]":
		return m.onBrowseNewer()
	case "G", "end":
		p.before, p.following = -1, false
		return m, m.readPartitions()
	case "g":
		return m.openPrompt(gotoPrompt)
	case "f":
		p.following = !p.following
		if !p.following {
			p.seq++
			return m, nil
		}
		p.before = -1
		return m, m.readPage()
	case "r":
		return m.askRedrive(false)
	case "R":
		return m.askRedrive(true)
	}
	return m, nil
}

// onBrowseOlder reads the page before the one shown.
func (m Model) onBrowseOlder() (tea.Model, tea.Cmd) {
	p := &m.browse
	if len(p.msgs) == 0 {
		return m, nil
	}
	last := p.msgs[len(p.msgs)-1].Offset
	if r, ok := p.partition(); ok && last <= r.Start {
		m.flash = "this is the oldest message kept, offset " + fmtInt(r.Start)
		return m, nil
	}
	p.before, p.following = last, false
	return m, m.readPage()
}

// onBrowseNewer reads the page after the one shown.
func (m Model) onBrowseNewer() (tea.Model, tea.Cmd) {
	p := &m.browse
	if p.before < 0 || p.following {
		m.flash = "these are the newest messages; f follows new ones"
		return m, nil
	}
	next := p.before + int64(p.pageRows())
	if len(p.msgs) > 0 {
		next = p.msgs[0].Offset + 1 + int64(p.pageRows())
	}
	if r, ok := p.partition(); ok && next >= r.End {
		next = -1
	}
	p.before = next
	return m, m.readPartitions()
}

// onGoto jumps to what the prompt says: an offset, or a time (RFC 3339,
// or a time of day of the UI's day).
func (m Model) onGoto(s string) (tea.Model, tea.Cmd) {
	p := &m.browse
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		p.before, p.following = n+1, false
		return m, m.readPage()
	}
	t, err := parseWhen(s, m.now())
	if err != nil {
		m.flash = err.Error()
		return m, nil
	}
	p.following = false
	return m, m.findOffset(t)
}

// parseWhen reads an RFC 3339 time, or a time of day (15:04 or 15:04:05)
// on the local day of now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if now.IsZero() {
		now = time.Now()
	}
	now = now.Local()
	for _, layout := range []string{"15:04:05", "15:04"} {
		if c, err := time.Parse(layout, s); err == nil {
			return time.Date(now.Year(), now.Month(), now.Day(), c.Hour(), c.Minute(), c.Second(), 0, now.Location()), nil
		}
	}
	return time.Time{}, errors.New("go to what? an offset, a time of day such as 15:04:05, or an RFC 3339 time")
}

// askRedrive asks to confirm re-driving the selected dead letter, or all.
func (m Model) askRedrive(all bool) (tea.Model, tea.Cmd) {
	p := &m.browse
	if !p.dlq {
		m.flash = "r and R re-drive dead letters: t shows the dead-letter topic"
		return m, nil
	}
	if m.refuseControl("re-driving dead letters") {
		return m, nil
	}
	ask := &redriveAsk{all: all}
	if all {
		n := p.pending()
		if n == 0 {
			m.flash = "no dead letters to re-drive"
			return m, nil
		}
		ask.question = "re-drive all " + fmtInt(n) + " dead letters to " + p.topic + "?"
	} else {
		msg, ok := p.selected()
		if !ok {
			return m, nil
		}
		if msg.DeadLetter != nil && msg.DeadLetter.Truncated {
			m.flash = "this dead letter's value was truncated: it cannot be re-driven"
			return m, nil
		}
		ask.partition, ask.offset = msg.Partition, msg.Offset
		ask.question = "re-drive " + p.topicName() + "/" + strconv.Itoa(msg.Partition) + "@" + strconv.FormatInt(msg.Offset, 10) + " to " + p.topic + "?"
	}
	m.redriving = ask
	return m, nil
}

// onRedriveKey takes y to re-drive; any other key re-drives nothing.
func (m Model) onRedriveKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	ask := m.redriving
	m.redriving = nil
	if s := strings.ToLower(msg.String()); s != "y" {
		m.flash = "nothing re-driven"
		return m, nil
	}
	b := m.opts.Browser
	return m, func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if ask.all {
			copied, refused, err := b.RedriveAll(ctx)
			return browseRedriveMsg{what: "all", copied: copied, refused: refused, err: err}
		}
		err := b.Redrive(ctx, ask.partition, ask.offset)
		copied := 0
		if err == nil {
			copied = 1
		}
		return browseRedriveMsg{what: strconv.Itoa(ask.partition) + "@" + strconv.FormatInt(ask.offset, 10), copied: copied, err: err}
	}
}

// onBrowseRedrive says how a re-drive went, in the events and the footer.
func (m Model) onBrowseRedrive(msg browseRedriveMsg) (tea.Model, tea.Cmd) {
	note := "re-drove " + fmtInt(int64(msg.copied)) + " dead letters to " + m.browse.topic
	if msg.what != "all" {
		note = "re-drove the dead letter " + msg.what + " to " + m.browse.topic
	}
	if msg.refused > 0 {
		note += "; left " + fmtInt(int64(msg.refused)) + " truncated ones"
	}
	if msg.err != nil {
		note = "re-drive: " + oneLine(msg.err.Error())
		if msg.copied > 0 {
			note += " (" + fmtInt(int64(msg.copied)) + " re-driven before it)"
		}
	}
	m.events.note(m.now(), note)
	m.flash = note
	return m, nil
}

// redriveKeys are the footer's keys while a re-drive is confirmed.
var redriveKeys = []key.Binding{helpOnly("y", "re-drive"), helpOnly("any other key", "cancel")}
