package tui

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// linkedSource is a fakeSource reached over a connection that the test
// makes and loses, whose pauses can be refused.
type linkedSource struct {
	*fakeSource
	mu       sync.Mutex
	link     Link
	pauseErr error
	asked    []bool
}

func (s *linkedSource) Link() Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.link
}

func (s *linkedSource) setLink(l Link) {
	s.mu.Lock()
	s.link = l
	s.mu.Unlock()
}

func (s *linkedSource) SetPaused(paused bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, paused)
	return s.pauseErr
}

func newViewer(t *testing.T, src Source, o Options, feed *fakeSource, w, h, k int) Model {
	t.Helper()
	o.Viewer, o.Styles = true, asciiStyles()
	m := New(src, o)
	m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	for i := 0; i <= k; i++ {
		m, _ = step(t, m, snapshotMsg{feed.at(i)})
	}
	return m
}

// run runs cmd and what it batches, returning the messages they make.
func run(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, run(c)...)
		}
		return out
	}
	return []tea.Msg{msg}
}

func quits(cmd tea.Cmd) bool {
	for _, msg := range run(cmd) {
		if _, ok := msg.(tea.QuitMsg); ok {
			return true
		}
	}
	return false
}

// TestViewerQuitLeavesThePipelineRunning: q and ctrl+c end a viewer at
// once and never stop the pipeline it watches.
func TestViewerQuitLeavesThePipelineRunning(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		feed := &fakeSource{f: newFixture(8)}
		stops := 0
		m := newViewer(t, feed, Options{Stop: func() { stops++ }, Abort: func() { stops++ }}, feed, 100, 30, 4)
		msg := press(k)
		if k == "ctrl+c" {
			msg = tea.KeyMsg{Type: tea.KeyCtrlC}
		}
		m, cmd := step(t, m, msg)
		if !quits(cmd) {
			t.Errorf("%s: the viewer did not quit", k)
		}
		if stops != 0 || m.draining {
			t.Errorf("%s: a viewer's quit stopped the pipeline (stops=%d draining=%v)", k, stops, m.draining)
		}
	}
}

// TestReadOnlyViewerRefusesEveryControl: a read-only viewer says why each
// control is refused and asks nothing of the source.
func TestReadOnlyViewerRefusesEveryControl(t *testing.T) {
	feed := &fakeSource{f: newFixture(8)}
	feed.f.paced, feed.f.pace, feed.f.subscribable = true, 1000, true
	stopped := 0
	m := newViewer(t, feed, Options{ReadOnly: "no control token", StopService: func() error { stopped++; return nil }}, feed, 120, 40, 4)
	if !strings.Contains(ansi.Strip(m.View()), "read-only") {
		t.Errorf("the header does not say read-only:\n%s", ansi.Strip(m.View()))
	}
	for _, k := range []string{"p", "+", "-", "a", "x", "Q"} {
		var cmd tea.Cmd
		m, cmd = step(t, m, press(k))
		run(cmd)
		// Said where it shows at any size, not only in the events.
		if lines := strings.Split(ansi.Strip(m.View()), "\n"); !strings.HasPrefix(lines[len(lines)-1], "read-only: ") {
			t.Errorf("after %s the footer says %q", k, lines[len(lines)-1])
		}
		if m.prompting != noPrompt || m.confirming {
			t.Fatalf("%s opened a prompt in a read-only viewer", k)
		}
	}
	if feed.pauses+feed.resumes != 0 || len(feed.rates) != 0 || len(feed.subs) != 0 || stopped != 0 {
		t.Errorf("a read-only viewer steered: pauses=%d resumes=%d rates=%v subs=%v stops=%d", feed.pauses, feed.resumes, feed.rates, feed.subs, stopped)
	}
	refusals := 0
	for _, r := range m.events.rows {
		if strings.HasPrefix(r.Message, "read-only: ") && strings.HasSuffix(r.Message, "refused (no control token)") {
			refusals++
		}
	}
	if refusals != 6 {
		t.Errorf("%d refusals in the events, want 6: %+v", refusals, m.events.rows)
	}
}

// TestViewerStopsTheServiceOnlyWhenConfirmed: Q asks; only y stops.
func TestViewerStopsTheServiceOnlyWhenConfirmed(t *testing.T) {
	feed := &fakeSource{f: newFixture(8)}
	stopped := 0
	m := newViewer(t, feed, Options{StopService: func() error { stopped++; return nil }}, feed, 120, 40, 4)
	m, _ = step(t, m, press("Q"))
	if !strings.Contains(ansi.Strip(m.View()), "stop the service?") {
		t.Fatalf("Q does not ask:\n%s", ansi.Strip(m.View()))
	}
	m, cmd := step(t, m, press("n"))
	run(cmd)
	if stopped != 0 || m.confirming {
		t.Fatalf("n stopped the service (%d) or kept asking (%v)", stopped, m.confirming)
	}
	m, _ = step(t, m, press("Q"))
	m, cmd = step(t, m, press("y"))
	for _, msg := range run(cmd) {
		m, _ = step(t, m, msg)
	}
	if stopped != 1 {
		t.Fatalf("y stopped the service %d times, want 1", stopped)
	}
	// A pipeline in process has no Q: its q drains it.
	local := New(feed, Options{StopService: func() error { stopped++; return nil }, Styles: asciiStyles()})
	local, _ = step(t, local, tea.WindowSizeMsg{Width: 120, Height: 40})
	if local, _ = step(t, local, press("Q")); local.confirming {
		t.Error("Q asks to stop the service in a UI that runs its pipeline")
	}
}

// TestViewerSaysWhenItsConnectionIsLost: the header says since when the
// pipeline is out of reach, the events say when it went and came back,
// and a pause it refuses is forgotten.
func TestViewerSaysWhenItsConnectionIsLost(t *testing.T) {
	feed := &fakeSource{f: newFixture(8)}
	src := &linkedSource{fakeSource: feed, link: Link{Connected: true, Since: t0}}
	m := newViewer(t, src, Options{}, feed, 120, 40, 4)
	if v := ansi.Strip(m.View()); strings.Contains(v, "DISCONNECTED") {
		t.Fatalf("a connected viewer says disconnected:\n%s", v)
	}
	lost := t0.Add(3 * time.Second)
	src.setLink(Link{Since: lost, Err: "connection refused"})
	m, _ = step(t, m, snapshotMsg{feed.Snapshot()})
	want := "DISCONNECTED since " + lost.Local().Format("15:04:05 MST")
	if v := ansi.Strip(m.View()); !strings.Contains(v, want) {
		t.Fatalf("the header does not say %q:\n%s", want, v)
	}
	src.setLink(Link{Connected: true, Since: lost.Add(5 * time.Second)})
	m, _ = step(t, m, snapshotMsg{feed.at(5)})
	if v := ansi.Strip(m.View()); strings.Contains(v, "DISCONNECTED") {
		t.Fatalf("still disconnected after the link came back:\n%s", v)
	}
	var said []string
	for _, r := range m.events.rows {
		said = append(said, r.Message)
	}
	if !containsAll(said, "disconnected: connection refused; reconnecting", "connected") {
		t.Errorf("events %q do not say the link went and came back", said)
	}

	src.pauseErr = errors.New("401 Unauthorized: wrong control token")
	m, cmd := step(t, m, press("p"))
	if !m.paused() {
		t.Fatal("p did not ask for a pause")
	}
	for _, msg := range run(cmd) {
		m, _ = step(t, m, msg)
	}
	if m.paused() {
		t.Error("a refused pause is still shown")
	}
	if len(src.asked) != 1 || !src.asked[0] || feed.pauses != 0 {
		t.Errorf("asked %v of the checked pauser, %d plain pauses", src.asked, feed.pauses)
	}
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// TestViewerStartsAfreshOnANewRun: when the pipeline watched restarts, the
// histories of its earlier run are forgotten and the events say so.
func TestViewerStartsAfreshOnANewRun(t *testing.T) {
	feed := &fakeSource{f: newFixture(8)}
	m := newViewer(t, feed, Options{}, feed, 120, 40, 40)
	if m.hist.n < 5 {
		t.Fatalf("history of %d seconds after 10 s", m.hist.n)
	}
	next := *feed.at(44)
	next.Started = next.Time
	m, _ = step(t, m, snapshotMsg{&next})
	if m.hist.n != 1 {
		t.Errorf("history of %d seconds after a restart, want 1", m.hist.n)
	}
	if r := m.events.rows[0]; !strings.HasPrefix(r.Message, "a new run of the pipeline") {
		t.Errorf("newest event %q", r.Message)
	}
}

// TestViewerHelpSaysQLeaves: a viewer's help says q leaves it and Q stops
// the service.
func TestViewerHelpSaysQLeaves(t *testing.T) {
	feed := &fakeSource{f: newFixture(8)}
	m := newViewer(t, feed, Options{StopService: func() error { return nil }}, feed, 120, 40, 4)
	m, _ = step(t, m, press("?"))
	v := ansi.Strip(m.View())
	for _, want := range []string{"leave; the service runs on", "stop the service (asks first)"} {
		if !strings.Contains(v, want) {
			t.Errorf("help lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "while draining: stop at once") {
		t.Errorf("a viewer's help offers to stop its pipeline with ctrl+c")
	}
}
