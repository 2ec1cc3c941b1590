package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/trade"
)

// fakeBrowser is a topic and its dead-letter topic held in memory: the
// topic has three partitions, the first of 40 trades from offset 100, and
// the dead-letter topic one partition of three dead letters, the second
// truncated. It records the re-drives asked of it.
type fakeBrowser struct {
	mu       sync.Mutex
	msgs     map[bool][][]TopicMessage // by dlq, then partition, oldest first
	redriven []string
}

func newFakeBrowser() *fakeBrowser {
	b := &fakeBrowser{msgs: map[bool][][]TopicMessage{}}
	symbols := []string{"AAPL", "MSFT", "NVDA", "JPM"}
	var p0 []TopicMessage
	for i := range 40 {
		sym := symbols[i%len(symbols)]
		at := t0.Add(time.Duration(i) * 250 * time.Millisecond)
		p0 = append(p0, TopicMessage{
			Partition: 0, Offset: int64(100 + i), Time: at, Key: sym, Form: "json",
			Trade: &trade.Trade{ID: "synthetic-1-" + strconv.Itoa(i), Symbol: sym, Price: 100 + float64(i)/4, Volume: float64(10 * (i%5 + 1)), Time: at.Add(-3 * time.Millisecond)},
		})
	}
	p1 := []TopicMessage{{Partition: 1, Offset: 0, Time: t0, Key: "XOM", Form: "avro registry id 5", Err: "invalid trade: Avro of schema registry id 5, and no --schema-registry to look it up in"}}
	b.msgs[false] = [][]TopicMessage{p0, p1, nil}
	dead := func(off int64, key, form, reason, src string, truncated bool, headers ...Header) TopicMessage {
		return TopicMessage{Partition: 0, Offset: off, Time: t0.Add(time.Duration(off) * time.Second), Key: key, Form: form, Err: reason,
			Headers: headers, DeadLetter: &DeadLetter{Reason: reason, Source: src, Truncated: truncated}}
	}
	b.msgs[true] = [][]TopicMessage{{
		dead(0, "AAPL", "json", "invalid trade: unexpected end of JSON input", "trades/0@57", false, Header{"error", "invalid trade: unexpected end of JSON input"}, Header{"source-topic", "trades"}),
		dead(1, "MSFT", "json", "invalid trade: 1048576 bytes, more than 65536", "trades/1@3", true, Header{"truncated-from", "1048576"}),
		dead(2, "NVDA", "avro registry id 7", "invalid trade: Avro of schema registry id 7, and no --schema-registry to look it up in", "trades/2@12", false,
			Header{"error", "invalid trade: Avro of schema registry id 7, and no --schema-registry to look it up in"}, Header{"trace", "a1b2"}),
	}}
	return b
}

func (b *fakeBrowser) Partitions(_ context.Context, dlq bool) ([]PartitionRange, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []PartitionRange
	for i, msgs := range b.msgs[dlq] {
		r := PartitionRange{Partition: i}
		if len(msgs) > 0 {
			r.Start, r.End = msgs[0].Offset, msgs[len(msgs)-1].Offset+1
		}
		out = append(out, r)
	}
	return out, nil
}

func (b *fakeBrowser) Page(_ context.Context, dlq bool, partition int, before int64, n int) ([]TopicMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []TopicMessage
	msgs := b.msgs[dlq][partition]
	for i := len(msgs) - 1; i >= 0 && len(out) < n; i-- {
		if before < 0 || msgs[i].Offset < before {
			out = append(out, msgs[i])
		}
	}
	return out, nil
}

func (b *fakeBrowser) Next(_ context.Context, dlq bool, partition int, from int64, n int, _ time.Duration) ([]TopicMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []TopicMessage
	for _, m := range b.msgs[dlq][partition] {
		if m.Offset >= from && len(out) < n {
			out = append(out, m)
		}
	}
	return out, nil
}

func (b *fakeBrowser) OffsetAt(_ context.Context, dlq bool, partition int, t time.Time) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	msgs := b.msgs[dlq][partition]
	for _, m := range msgs {
		if !m.Time.Before(t) {
			return m.Offset, nil
		}
	}
	return msgs[len(msgs)-1].Offset + 1, nil
}

func (b *fakeBrowser) Redrive(_ context.Context, partition int, offset int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.msgs[true][partition] {
		if m.Offset == offset {
			if m.DeadLetter.Truncated {
				return errors.New("truncated")
			}
			b.redriven = append(b.redriven, fmt.Sprintf("%d@%d", partition, offset))
			return nil
		}
	}
	return errors.New("no such dead letter")
}

func (b *fakeBrowser) RedriveAll(_ context.Context) (int, int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.redriven = append(b.redriven, "all")
	return 2, 1, nil
}

// append adds a trade to partition 0 of the topic, as a producer would.
func (b *fakeBrowser) append() TopicMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.msgs[false][0]
	last := p[len(p)-1]
	m := last
	m.Offset, m.Time, m.Key = last.Offset+1, last.Time.Add(time.Second), "NEW"
	b.msgs[false][0] = append(p, m)
	return m
}

// settleBrowse runs cmd and the commands its messages lead to, feeding every
// message to m, at most depth deep: a follow's next read is not run past
// that.
func settleBrowse(t *testing.T, m Model, cmd tea.Cmd, depth int) Model {
	t.Helper()
	if depth == 0 {
		return m
	}
	for _, msg := range run(cmd) {
		if msg == nil {
			continue
		}
		var next tea.Cmd
		m, next = step(t, m, msg)
		m = settleBrowse(t, m, next, depth-1)
	}
	return m
}

// browsing returns a model over the fixture with a topic browser, at w×h,
// with the browser open.
func browsing(t *testing.T, w, h int) (Model, *fakeBrowser) {
	t.Helper()
	b := newFakeBrowser()
	src := &fakeSource{f: newFixture(12)}
	m := New(src, Options{Styles: asciiStyles(), Browser: b})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	for k := 0; k <= 40; k += 4 {
		m, _ = step(t, m, snapshotMsg{src.at(k)})
	}
	m = keys(t, m, "b")
	if m.screen != browse {
		t.Fatal("b does not open the topic browser")
	}
	return m, b
}

// keys presses each key, running what it asks for.
func keys(t *testing.T, m Model, ks ...string) Model {
	t.Helper()
	for _, k := range ks {
		var cmd tea.Cmd
		m, cmd = step(t, m, press(k))
		m = settleBrowse(t, m, cmd, 4)
	}
	return m
}

func TestGoldenBrowser(t *testing.T) {
	screens := []struct {
		name string
		keys []string
	}{
		{"browse", nil},
		{"browse_dlq", []string{"t", "down"}},
		{"browse_message", []string{"t", "down", "down", "enter"}},
	}
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		for _, sc := range screens {
			name := fmt.Sprintf("%s_%dx%d", sc.name, size[0], size[1])
			t.Run(name, func(t *testing.T) {
				m, _ := browsing(t, size[0], size[1])
				m = keys(t, m, sc.keys...)
				golden(t, name, m.View())
			})
		}
	}
}

// visible is the screen as text.
func visible(m Model) string { return ansi.Strip(m.View()) }

func TestBrowserPagesPartitionsAndTime(t *testing.T) {
	m, _ := browsing(t, 100, 30)
	p := &m.browse
	rows := p.pageRows()
	if len(p.msgs) != rows || p.msgs[0].Offset != 139 {
		t.Fatalf("first page: %d messages from %d, want %d from the newest, 139", len(p.msgs), p.msgs[0].Offset, rows)
	}
	m = keys(t, m, "[")
	if got := m.browse.msgs[0].Offset; got != int64(139-rows) {
		t.Errorf("the older page starts at %d, want %d", got, 139-rows)
	}
	m = keys(t, m, "]")
	if got := m.browse.msgs[0].Offset; got != 139 {
		t.Errorf("the newer page starts at %d, want the newest, 139", got)
	}
	m = keys(t, m, "l")
	if p := m.browse; p.parts[p.part].Partition != 1 || len(p.msgs) != 1 || !strings.Contains(visible(m), "not a trade (avro registry id 5)") {
		t.Errorf("l shows partition %d with %d messages:\n%s", p.parts[p.part].Partition, len(p.msgs), visible(m))
	}
	m = keys(t, m, "h", "g")
	if m.prompting != gotoPrompt {
		t.Fatal("g does not ask where to go")
	}
	m = keys(t, m, "15:00:05", "enter")
	// Offset 120 is the first at 15:00:05; the page shows what is before it.
	if got := m.browse.msgs[0].Offset; got != 119 {
		t.Errorf("going to 15:00:05 shows %d first, want 119", got)
	}
	m = keys(t, m, "g", "110", "enter")
	if got := m.browse.msgs[0].Offset; got != 110 {
		t.Errorf("going to offset 110 shows %d first, want 110", got)
	}
}

func TestBrowserFollows(t *testing.T) {
	m, b := browsing(t, 100, 30)
	var cmd tea.Cmd
	m, cmd = step(t, m, press("f"))
	// The newest page, then a read of what follows it.
	m = settleBrowse(t, m, cmd, 2)
	if !m.browse.following || m.browse.msgs[0].Offset != 139 {
		t.Fatalf("f: following %v, newest %d", m.browse.following, m.browse.msgs[0].Offset)
	}
	added := b.append()
	next := m.readNext()
	m = settleBrowse(t, m, next, 1)
	if got := m.browse.msgs[0]; got.Offset != added.Offset || got.Key != "NEW" {
		t.Errorf("following shows %d %q on top, want the new message %d", got.Offset, got.Key, added.Offset)
	}
	if !strings.Contains(visible(m), "following") {
		t.Error("the browser does not say it follows")
	}
	m = keys(t, m, "f")
	if m.browse.following {
		t.Error("a second f does not stop following")
	}
}

func TestBrowserRedriveAsksFirst(t *testing.T) {
	m, b := browsing(t, 100, 30)
	m = keys(t, m, "r")
	if m.redriving != nil || b.redriven != nil {
		t.Fatal("r on the topic itself asks to re-drive")
	}
	m = keys(t, m, "t", "down", "down", "r")
	if m.redriving == nil || !strings.Contains(visible(m), "re-drive trades.dlq/0@0 to trades?") {
		t.Fatalf("r on a dead letter does not ask first:\n%s", visible(m))
	}
	m = keys(t, m, "n")
	if m.redriving != nil || len(b.redriven) != 0 || !strings.Contains(visible(m), "nothing re-driven") {
		t.Errorf("n re-drove %v", b.redriven)
	}
	m = keys(t, m, "r", "y")
	if !slices.Equal(b.redriven, []string{"0@0"}) || !strings.Contains(visible(m), "re-drove the dead letter 0@0 to trades") {
		t.Errorf("y re-drove %v:\n%s", b.redriven, visible(m))
	}
	// The truncated one is refused before it is asked.
	m = keys(t, m, "up", "r")
	if m.redriving != nil || !strings.Contains(visible(m), "truncated") {
		t.Errorf("r on a truncated dead letter asks to re-drive it")
	}
	m = keys(t, m, "R")
	if m.redriving == nil || !strings.Contains(visible(m), "re-drive all 3 dead letters to trades?") {
		t.Fatalf("R does not ask first:\n%s", visible(m))
	}
	m = keys(t, m, "y")
	if !slices.Equal(b.redriven, []string{"0@0", "all"}) || !strings.Contains(visible(m), "re-drove 2 dead letters to trades; left 1 truncated") {
		t.Errorf("R y re-drove %v:\n%s", b.redriven, visible(m))
	}
}

func TestBrowserReadOnlyViewerMayNotRedrive(t *testing.T) {
	b := newFakeBrowser()
	src := &fakeSource{f: newFixture(6)}
	m := New(src, Options{Styles: asciiStyles(), Browser: b, ReadOnly: "no control token"})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m, _ = step(t, m, snapshotMsg{src.at(0)})
	m = keys(t, m, "b", "t", "r")
	if m.redriving != nil || !strings.Contains(visible(m), "read-only") {
		t.Errorf("a read-only viewer is asked to re-drive:\n%s", visible(m))
	}
}

func TestNoBrowserSaysWhere(t *testing.T) {
	m, _ := newTestModel(t, 6, 100, 30, 4)
	m = keys(t, m, "b")
	if m.screen != dashboard || !strings.Contains(visible(m), "no topic browser here") {
		t.Errorf("b without a browser:\n%s", visible(m))
	}
}
