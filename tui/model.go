// Package tui is tradetop's terminal UI: a Bubble Tea program that shows the
// running pipeline, like top. It reads the pipeline's immutable snapshots on
// a tick and never touches Kafka or the store itself; what it reads on
// demand, stored candles and the topic's messages (Browser), it reads
// from tea.Cmds.
package tui

import (
	"context"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/state"
)

// Source is what the UI needs of the pipeline; *pipeline.Pipeline is one.
// Snapshot, Pause and Resume may be called from any goroutine and do not
// block. RecentCandles reads the store, so the UI calls it only from a
// tea.Cmd. A Source may do more, found by type assertion where it is used:
// read any stored range of candles (candleRanger), change the feed's rate
// (rateSetter).
type Source interface {
	Snapshot() *state.Snapshot
	Pause()
	Resume()
	// RecentCandles returns at most n of the symbol's newest stored
	// candles of the interval, oldest first.
	RecentCandles(ctx context.Context, symbol string, interval time.Duration, n int) ([]agg.Candle, error)
	// Subscribe and Unsubscribe change the symbols of a source that takes
	// subscriptions (Snapshot.Subscribable).
	Subscribe(symbol string) error
	Unsubscribe(symbol string) error
}

// Options configure the UI.
type Options struct {
	// Stop starts a clean drain of the pipeline: the first q or ctrl+c.
	// Default: nothing.
	Stop func()
	// Abort stops the pipeline at once: ctrl+c while draining. Default:
	// nothing.
	Abort func()
	// Done is closed when the pipeline has stopped, after its final
	// snapshot. If the user quit in the UI, or Interrupted is closed, the
	// UI then exits; otherwise the run ended by itself (its source ran
	// out, a count or a time limit was reached) and the UI shows the run's
	// summary until a key is pressed. Default: never.
	Done <-chan struct{}
	// Stopping is closed when the pipeline was told to stop another way (a
	// signal, a time limit); the UI then shows the drain. Default: never.
	Stopping <-chan struct{}
	// Interrupted is closed, before Done, when the run did not end by
	// itself: a signal stopped it, or it failed. The UI then exits when
	// Done closes, as after q, without the summary. Default: never.
	Interrupted <-chan struct{}
	// Interval is how often the UI takes the latest snapshot. Default 250ms,
	// the pipeline's publishing interval.
	Interval time.Duration
	// Styles is the theme. Default: NewStyles(nil).
	Styles *Styles
	// MarketCap returns a symbol's market value at price (price × shares
	// outstanding) when the universe knows its shares; the symbols table
	// then has an MCAP column where it fits. Default: no column.
	MarketCap func(symbol string, price float64) (float64, bool)

	// Viewer says the UI watches a pipeline that runs on without it (an
	// attached terminal, an ssh session): q and ctrl+c leave the UI at
	// once and the pipeline runs on; Stop and Abort are not used. A new
	// run of the pipeline (a restart) starts the UI's history afresh.
	Viewer bool
	// StopService asks the pipeline a viewer watches to drain and stop: Q,
	// after a confirmation. Default: no such key.
	StopService func() error
	// Browser looks inside the topic and its dead-letter topic for the
	// topic browser (key b), and re-drives dead letters. Default nil: b
	// says there is no browser here.
	Browser Browser

	// ReadOnly, when set, says why this viewer may watch but not steer:
	// pause, rate, subscriptions and stopping are refused with that
	// reason. A Linked source may say so as well.
	ReadOnly string
}

func (o Options) withDefaults() Options {
	if o.Stop == nil {
		o.Stop = func() {}
	}
	if o.Abort == nil {
		o.Abort = func() {}
	}
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.Styles == nil {
		o.Styles = NewStyles(nil)
	}
	return o
}

// Messages.
type (
	// snapshotMsg carries the latest snapshot, nil before the first.
	snapshotMsg struct{ snap *state.Snapshot }
	// stoppingMsg says the pipeline was told to stop and is draining.
	stoppingMsg struct{}
	// doneMsg says the pipeline has stopped, with its final snapshot, and
	// whether it was interrupted rather than ending by itself.
	doneMsg struct {
		snap        *state.Snapshot
		interrupted bool
	}
)

// screen is what the body shows.
type screen int

const (
	dashboard screen = iota
	detail
	browse
)

// focus is the dashboard pane that keys and the wheel scroll.
type focus int

const (
	focusSymbols focus = iota
	focusSectors
	focusLag
	focusTape
	focusEvents
	focusCount
)

// Model is the UI's root model. It owns all state and routes messages to the
// panes. Bubble Tea calls it from the program's goroutine only.
type Model struct {
	src  Source
	opts Options
	st   *Styles
	keys keyMap
	help help.Model

	width, height int
	screen        screen
	showHelp      bool
	focus         focus
	lay           layout
	laidFor       needs

	snap   *state.Snapshot
	hist   *history
	mon    *monitor.Monitor
	report *monitor.Report

	symbols symbolsPane
	sectors sectorsPane
	lag     lagPane
	tape    tapePane
	events  eventsPane
	detail  detailPane
	browse  browsePane
	manual  helpScreen

	filtering bool
	filter    textinput.Model

	searching bool // the events' search is being typed
	search    textinput.Model

	prompting promptKind // a symbol to subscribe or unsubscribe being typed
	prompt    textinput.Model

	pauseWant *bool    // a pause or resume asked for and not yet seen
	rateWant  *float64 // a feed rate asked for and not yet seen
	rateBusy  bool     // a change of rate is under way
	draining  bool
	aborting  bool
	quit      bool // the user asked to quit in the UI

	confirming bool        // stopping the service watched awaits a y
	redriving  *redriveAsk // a re-drive of dead letters awaits a y
	flash      string      // said in the footer until the next key
	linked     Link        // the source's connection at the latest snapshot

	ended   bool // the run ended by itself; its summary shows
	summary summaryScreen
}

// New returns the UI over src.
func New(src Source, o Options) Model {
	o = o.withDefaults()
	st := o.Styles
	hm := help.New()
	hm.Styles.ShortKey, hm.Styles.FullKey = st.Key, st.Key
	hm.Styles.ShortDesc, hm.Styles.FullDesc = st.Desc, st.Desc
	hm.Styles.ShortSeparator, hm.Styles.FullSeparator, hm.Styles.Ellipsis = st.Dim, st.Dim, st.Dim
	ti := textinput.New()
	ti.Prompt = "/ "
	ti.Placeholder = "symbol or sector"
	ti.CharLimit = 32
	ti.PromptStyle, ti.TextStyle, ti.PlaceholderStyle = st.Title, st.Bold, st.Dim
	ti.Cursor.Style = st.Selected
	ti.Cursor.SetMode(cursor.CursorStatic)
	si := textinput.New()
	si.Prompt = "/ "
	si.Placeholder = "text in events"
	si.CharLimit = 64
	si.PromptStyle, si.TextStyle, si.PlaceholderStyle = st.Title, st.Bold, st.Dim
	si.Cursor.Style = st.Selected
	si.Cursor.SetMode(cursor.CursorStatic)
	pi := textinput.New()
	pi.CharLimit = 64
	pi.PromptStyle, pi.TextStyle, pi.PlaceholderStyle = st.Title, st.Bold, st.Dim
	pi.Cursor.Style = st.Selected
	pi.Cursor.SetMode(cursor.CursorStatic)
	h, mon := newHistory(), monitor.New()
	return Model{
		src:     src,
		opts:    o,
		st:      st,
		keys:    newKeyMap(),
		help:    hm,
		hist:    h,
		mon:     mon,
		report:  &monitor.Report{},
		symbols: newSymbolsPane(st, h, o.MarketCap),
		sectors: sectorsPane{st: st},
		lag:     lagPane{st: st, mon: mon},
		tape:    newTapePane(st),
		events:  eventsPane{st: st},
		detail:  detailPane{st: st},
		browse:  browsePane{st: st, before: -1},
		summary: summaryScreen{st: st},
		manual:  helpScreen{st: st},
		filter:  ti,
		search:  si,
		prompt:  pi,
	}
}

// Init takes the first snapshot at once and starts waiting for the
// pipeline to stop.
func (m Model) Init() tea.Cmd {
	src := m.src
	return tea.Batch(
		func() tea.Msg { return snapshotMsg{src.Snapshot()} },
		waitFor(m.opts.Stopping, stoppingMsg{}),
		waitForEnd(src, m.opts.Done, m.opts.Interrupted),
	)
}

// waitForEnd returns the final snapshot once done is closed, and whether
// interrupted was closed before it.
func waitForEnd(src Source, done, interrupted <-chan struct{}) tea.Cmd {
	if done == nil {
		return nil
	}
	return func() tea.Msg {
		<-done
		msg := doneMsg{snap: src.Snapshot()}
		select {
		case <-interrupted:
			msg.interrupted = true
		default:
		}
		return msg
	}
}

// waitForSnapshot takes the latest snapshot after one interval.
func waitForSnapshot(src Source, every time.Duration) tea.Cmd {
	return tea.Tick(every, func(time.Time) tea.Msg { return snapshotMsg{src.Snapshot()} })
}

// waitFor returns msg once ch is closed; nil ch never is.
func waitFor(ch <-chan struct{}, msg tea.Msg) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		<-ch
		return msg
	}
}

// Update routes a message to its handler.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		return m.onWindowSize(msg)
	case snapshotMsg:
		return m.onSnapshot(msg)
	case tea.KeyMsg:
		return m.onKey(msg)
	case tea.MouseMsg:
		return m.onMouse(msg)
	case candlesMsg:
		return m.onCandles(msg)
	case subscribedMsg:
		return m.onSubscribed(msg)
	case rateSetMsg:
		return m.onRateSet(msg)
	case pausedMsg:
		return m.onPaused(msg)
	case stopServiceMsg:
		return m.onServiceStopped(msg)
	case browsePartsMsg:
		return m.onBrowseParts(msg)
	case browsePageMsg:
		return m.onBrowsePage(msg)
	case browseNextMsg:
		return m.onBrowseNext(msg)
	case browseOffsetMsg:
		return m.onBrowseOffset(msg)
	case browseRedriveMsg:
		return m.onBrowseRedrive(msg)
	case stoppingMsg:
		return m.onStopping()
	case doneMsg:
		return m.onDone(msg)
	}
	return m, nil
}

// onWindowSize lays the screen out for the terminal's new size.
func (m Model) onWindowSize(msg tea.WindowSizeMsg) (tea.Model, tea.Cmd) {
	m.width, m.height = msg.Width, msg.Height
	m.relayout()
	return m, m.candleCmd()
}

// needs are the heights that show the panes' content whole.
func (m *Model) needs() needs {
	return needs{symbols: len(m.symbols.rows) + 3, sectors: m.sectors.need(), lag: m.lag.need()}
}

// relayout places the panes for the size, what they hold and the focus.
func (m *Model) relayout() {
	n := m.needs()
	m.laidFor = n
	m.lay = computeLayout(m.width, m.height, n, m.focus)
	if !m.lay.pane(m.focus).shown() && m.focus != focusSymbols {
		m.focus = focusSymbols
		m.lay = computeLayout(m.width, m.height, n, m.focus)
	}
	m.symbols.SetSize(m.lay.symbols.w, m.lay.symbols.h)
	m.sectors.SetSize(m.lay.sectors.w, m.lay.sectors.h)
	m.lag.SetSize(m.lay.lag.w, m.lay.lag.h)
	m.tape.SetSize(m.lay.tape.w, m.lay.tape.h)
	m.events.SetSize(m.lay.events.w, m.lay.events.h)
	m.detail.SetSize(m.lay.body.w, m.lay.body.h)
	m.browse.SetSize(m.lay.body.w, m.lay.body.h)
	m.summary.SetSize(m.lay.body.w, m.lay.body.h)
	m.manual.SetSize(m.lay.body.w, m.lay.body.h)
	m.updateHelp()
	m.help.Width = m.width
	if m.screen == detail {
		m.detail.update(m.symbols.rows, m.hist, m.now())
	}
}

// onSnapshot takes a new snapshot into every pane, and waits for the next.
func (m Model) onSnapshot(msg snapshotMsg) (tea.Model, tea.Cmd) {
	next := waitForSnapshot(m.src, m.opts.Interval)
	m.noteLink()
	s := msg.snap
	if s == nil || s == m.snap {
		return m, next
	}
	if m.snap != nil && !s.Started.Equal(m.snap.Started) {
		m.newRun(s)
	}
	m.apply(s)
	return m, tea.Batch(next, m.candleCmd())
}

// onDone exits once the pipeline has stopped, when the user quit or the
// run was interrupted; a run that ended by itself shows its summary from
// the final snapshot until a key is pressed.
func (m Model) onDone(msg doneMsg) (tea.Model, tea.Cmd) {
	if m.quit || msg.interrupted {
		return m, tea.Quit
	}
	m.ended, m.showHelp = true, false
	if msg.snap != nil && msg.snap != m.snap {
		m.apply(msg.snap)
	}
	m.summary.update(m.snap, m.draining)
	return m, nil
}

// apply brings every pane up to the snapshot.
func (m *Model) apply(s *state.Snapshot) {
	m.snap = s
	m.browse.now, m.browse.topic = s.Time, s.Topic
	m.hist.record(s)
	m.report = m.mon.Observe(s, m.draining || m.ended || (m.opts.Viewer && s.Draining))
	m.lag.update(s, m.report)
	// An ingest aggregates nothing: its processors do.
	m.symbols.empty, m.sectors.empty, m.tape.empty = "", "", ""
	if s.Role == "process" {
		m.tape.empty = "the tape is the ingest process's: its producer's latest trades"
	}
	if s.Role == "ingest" {
		m.symbols.empty = "aggregated by the group's processors: attach to one to see the symbols"
		m.sectors.empty = "aggregated by the group's processors"
	}
	m.symbols.update(s.Symbols, s.Alerts)
	m.sectors.update(s.Sectors)
	m.tape.update(s.Tape)
	m.events.update(s)
	if m.pauseWant != nil && *m.pauseWant == s.Paused {
		m.pauseWant = nil
	}
	if m.rateWant != nil && !m.rateBusy && *m.rateWant == s.Rate {
		m.rateWant = nil
	}
	if m.needs() != m.laidFor {
		m.relayout()
	}
	if m.screen == detail {
		m.detail.update(m.symbols.rows, m.hist, m.now())
	}
	if m.showHelp {
		m.updateHelp()
	}
}

// newRun forgets what the UI kept of an earlier run of the pipeline it
// watches, which has restarted: histories, the monitor's rates, changes
// asked of the old run.
func (m *Model) newRun(s *state.Snapshot) {
	*m.hist = *newHistory()
	*m.mon = *monitor.New()
	m.pauseWant, m.rateWant = nil, nil
	m.events.note(s.Time, "a new run of the pipeline, started "+s.Started.Local().Format("15:04:05 MST"))
}

// noteLink notes in the events when the source's connection is lost or
// made again.
func (m *Model) noteLink() {
	l := m.link()
	was := m.linked
	m.linked = l
	switch {
	case l.Connected && !was.Connected && !l.Since.IsZero():
		m.events.note(l.Since, "connected")
	case !l.Connected && was.Connected && l.Err != "":
		m.events.note(l.Since, "disconnected: "+l.Err+"; reconnecting")
	}
}

// updateHelp lays the full help out for the keys the source takes.
func (m *Model) updateHelp() {
	m.manual.update(m.keys.sections(m.snap, m.opts), m.report.Window, m.now())
}

// paused says whether the feed is paused, or about to be.
func (m *Model) paused() bool {
	if m.pauseWant != nil {
		return *m.pauseWant
	}
	return m.snap != nil && m.snap.Paused
}

// now is the time of the latest snapshot: the UI's clock.
func (m *Model) now() time.Time {
	if m.snap == nil {
		return time.Time{}
	}
	return m.snap.Time
}
