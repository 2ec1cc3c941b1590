package tui

import (
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// onKey routes a key: any key ends the summary of a run that is over;
// then a burst is taken a key at a time; then quitting, the text being
// typed, the help, the feed's controls, and the screen or pane shown.
func (m Model) onKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := &m.keys
	m.flash = ""
	switch {
	case m.ended:
		// The run is over and its summary shows: any key exits.
		return m, tea.Quit
	case msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste && !m.typing():
		return m.onBurst(msg)
	case m.confirming:
		return m.onConfirmKey(msg)
	case m.redriving != nil:
		return m.onRedriveKey(msg)
	case msg.String() == "ctrl+c" || (key.Matches(msg, k.Quit) && !m.typing()):
		return m.onQuit(msg)
	case m.filtering:
		return m.onFilterKey(msg)
	case m.searching:
		return m.onSearchKey(msg)
	case m.prompting != noPrompt:
		return m.onPromptKey(msg)
	case m.showHelp:
		return m.onHelpKey(msg)
	case key.Matches(msg, k.Help):
		m.showHelp = true
		m.manual.offset = 0
		m.updateHelp()
		return m, nil
	case key.Matches(msg, k.Pause):
		return m.onPause()
	case m.opts.Viewer && key.Matches(msg, k.StopService):
		return m.onStopService()
	case key.Matches(msg, k.Faster):
		return m.onRate(1)
	case key.Matches(msg, k.Slower):
		return m.onRate(-1)
	case m.screen == browse:
		return m.onBrowseKey(msg)
	case m.screen == detail:
		return m.onDetailKey(msg)
	case m.focus == focusEvents:
		return m.onEventsKey(msg)
	}
	return m.onDashboardKey(msg)
}

// typing reports whether a text input takes the keys.
func (m *Model) typing() bool { return m.filtering || m.searching || m.prompting != noPrompt }

// onBurst takes keys typed in one burst, which Bubble Tea delivers as one
// message of several runes (tmux send-keys jjj, a fast typist, a key
// repeating), as that many keys. Once a key opens a text input, the rest of
// the burst is text and goes into it whole.
func (m Model) onBurst(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	for i, r := range msg.Runes {
		one := msg
		one.Runes = []rune{r}
		if m.typing() {
			one.Runes = msg.Runes[i:]
		}
		next, cmd := m.onKey(one)
		m, cmds = next.(Model), append(cmds, cmd)
		if len(one.Runes) > 1 {
			break
		}
	}
	return m, tea.Batch(cmds...)
}

// onHelpKey scrolls the full help, or closes it.
func (m Model) onHelpKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k, p := &m.keys, &m.manual
	switch {
	case key.Matches(msg, k.Help, k.Back):
		m.showHelp = false
	case key.Matches(msg, k.Up):
		p.scroll(-1)
	case key.Matches(msg, k.Down):
		p.scroll(1)
	case key.Matches(msg, k.PageUp):
		p.scroll(-p.rows())
	case key.Matches(msg, k.PageDown):
		p.scroll(p.rows())
	case key.Matches(msg, k.Top):
		p.scroll(-1 << 30)
	case key.Matches(msg, k.Bottom):
		p.scroll(1 << 30)
	}
	return m, nil
}

// onQuit starts the drain on the first q or ctrl+c; a ctrl+c while
// draining stops the pipeline at once.
func (m Model) onQuit(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	m.quit = true
	if m.opts.Viewer {
		// A viewer leaves; the pipeline it watches runs on.
		return m, tea.Quit
	}
	if !m.draining {
		m.draining = true
		m.events.note(m.now(), "stopping: draining what was produced (ctrl+c again stops at once)")
		return m, call(m.opts.Stop)
	}
	if msg.String() == "ctrl+c" && !m.aborting {
		m.aborting = true
		m.events.note(m.now(), "stopping at once, without draining")
		return m, call(m.opts.Abort)
	}
	return m, nil
}

// onStopping shows the drain started by a signal or a time limit.
func (m Model) onStopping() (tea.Model, tea.Cmd) {
	if !m.draining {
		m.draining = true
		m.events.note(m.now(), "stopping: draining what was produced")
	}
	return m, nil
}

// call runs f off the program's goroutine.
func call(f func()) tea.Cmd {
	return func() tea.Msg {
		f()
		return nil
	}
}

// onPause pauses or resumes the feed; the next snapshots confirm it.
func (m Model) onPause() (tea.Model, tea.Cmd) {
	if m.draining {
		return m, nil
	}
	if m.snap != nil && m.snap.Role == "process" {
		msg := "no feed here: this process runs the process role; pause the ingest process"
		m.events.note(m.now(), msg)
		m.flash = msg
		return m, nil
	}
	want := !m.paused()
	verb := map[bool]string{true: "pausing the feed", false: "resuming the feed"}[want]
	if m.refuseControl(verb) {
		return m, nil
	}
	m.pauseWant = &want
	if want {
		m.events.note(m.now(), "feed paused; the pipeline drains what was produced")
	} else {
		m.events.note(m.now(), "feed resumed")
	}
	return m, pauseCmd(m.src, want)
}

// onFilterKey edits the filter; enter keeps it and esc clears it.
func (m Model) onFilterKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := &m.keys
	switch {
	case key.Matches(msg, k.Apply):
		m.filtering = false
		m.filter.Blur()
	case key.Matches(msg, k.Clear):
		m.filtering = false
		m.filter.Blur()
		m.filter.SetValue("")
	case msg.Type == tea.KeyUp:
		m.symbols.move(-1)
		return m, nil
	case msg.Type == tea.KeyDown:
		m.symbols.move(1)
		return m, nil
	default:
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Update(msg)
		m.setFilter(m.filter.Value())
		return m, cmd
	}
	m.setFilter(m.filter.Value())
	return m, nil
}

// setFilter applies the filter to the table.
func (m *Model) setFilter(f string) {
	m.symbols.filter = f
	m.symbols.typing = m.filtering
	m.symbols.order()
}

// onEventsKey moves through the focused events, shows one whole and
// searches them; other keys work as anywhere on the dashboard.
func (m Model) onEventsKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k, p := &m.keys, &m.events
	move := p.move
	if p.expanded {
		move = p.scrollText
	}
	switch {
	case key.Matches(msg, k.Enter):
		p.toggle()
	case key.Matches(msg, k.Back):
		switch {
		case p.expanded:
			p.toggle()
		case p.query != "":
			m.search.SetValue("")
			p.search("")
		}
	case key.Matches(msg, k.Filter):
		m.searching, p.typing, p.expanded = true, true, false
		m.search.SetValue(p.query)
		m.search.CursorEnd()
		p.clampOffset()
		return m, m.search.Focus()
	case key.Matches(msg, k.Up):
		move(-1)
	case key.Matches(msg, k.Down):
		move(1)
	case key.Matches(msg, k.PageUp):
		move(-p.pageRows())
	case key.Matches(msg, k.PageDown):
		move(p.pageRows())
	case key.Matches(msg, k.Top):
		move(-1 << 30)
	case key.Matches(msg, k.Bottom):
		move(1 << 30)
	default:
		return m.onDashboardKey(msg)
	}
	return m, nil
}

// onSearchKey edits the events' search; enter keeps it and esc clears it.
func (m Model) onSearchKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k, p := &m.keys, &m.events
	switch {
	case key.Matches(msg, k.Apply):
	case key.Matches(msg, k.Clear):
		m.search.SetValue("")
	case msg.Type == tea.KeyUp:
		p.move(-1)
		return m, nil
	case msg.Type == tea.KeyDown:
		p.move(1)
		return m, nil
	default:
		var cmd tea.Cmd
		m.search, cmd = m.search.Update(msg)
		p.search(m.search.Value())
		return m, cmd
	}
	m.searching, p.typing = false, false
	m.search.Blur()
	p.search(m.search.Value())
	return m, nil
}

// onDashboardKey selects, sorts, filters, focuses and scrolls.
func (m Model) onDashboardKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := &m.keys
	switch {
	case key.Matches(msg, k.Enter):
		return m.openDetail()
	case key.Matches(msg, k.Filter):
		m.filtering = true
		m.setFocus(focusSymbols)
		m.filter.SetValue(m.symbols.filter)
		m.filter.CursorEnd()
		m.setFilter(m.symbols.filter)
		return m, m.filter.Focus()
	case key.Matches(msg, k.Browse):
		return m.openBrowser()
	case key.Matches(msg, k.Subscribe):
		return m.openPrompt(subscribePrompt)
	case key.Matches(msg, k.Unsubscribe):
		return m.openPrompt(unsubscribePrompt)
	case key.Matches(msg, k.Back):
		if m.symbols.filter != "" {
			m.filter.SetValue("")
			m.setFilter("")
		}
	case key.Matches(msg, k.Sort):
		m.symbols.sort = (m.symbols.sort + 1) % sortKeys
		m.symbols.reverse = false
		m.symbols.order()
	case key.Matches(msg, k.Reverse):
		m.symbols.reverse = !m.symbols.reverse
		m.symbols.order()
	case key.Matches(msg, k.Focus):
		m.cycleFocus(1)
	case key.Matches(msg, k.FocusBack):
		m.cycleFocus(-1)
	case key.Matches(msg, k.Up):
		m.scrollFocused(-1)
	case key.Matches(msg, k.Down):
		m.scrollFocused(1)
	case key.Matches(msg, k.PageUp):
		m.scrollFocused(-m.symbols.pageRows())
	case key.Matches(msg, k.PageDown):
		m.scrollFocused(m.symbols.pageRows())
	case key.Matches(msg, k.Top):
		m.scrollFocused(-1 << 30)
	case key.Matches(msg, k.Bottom):
		m.scrollFocused(1 << 30)
	}
	return m, nil
}

// scrollFocused moves the selection or the view of the focused pane.
func (m *Model) scrollFocused(d int) {
	switch m.focus {
	case focusSymbols:
		m.symbols.move(d)
	case focusSectors:
		m.sectors.scroll(d)
	case focusLag:
		m.lag.scroll(d)
	case focusTape:
		m.tape.scroll(d)
	case focusEvents:
		m.events.move(d)
	}
}

// cycleFocus moves the focus to the next pane in direction d that the
// screen can show: a pane folded for want of room borrows a place while
// it is focused.
func (m *Model) cycleFocus(d int) {
	f := m.focus
	for range focusCount {
		f = (f + focus(d) + focusCount) % focusCount
		if l := computeLayout(m.width, m.height, m.needs(), f); l.pane(f).shown() {
			m.setFocus(f)
			return
		}
	}
}

// setFocus focuses pane f and lays the screen out for it.
func (m *Model) setFocus(f focus) {
	if f != m.focus {
		m.focus = f
		m.relayout()
	}
}

// openDetail shows the selected symbol up close.
func (m Model) openDetail() (tea.Model, tea.Cmd) {
	r, ok := m.symbols.selectedRow()
	if !ok {
		return m, nil
	}
	var intervals []time.Duration
	if m.snap != nil {
		intervals = m.snap.Intervals
	}
	m.screen = detail
	m.detail.open(r.Symbol, intervals)
	m.detail.update(m.symbols.rows, m.hist, m.now())
	return m, m.askCandles(m.detail.query(m.now()))
}

// onDetailKey goes back, changes the candle window or the symbol, and
// pages the candles through the stored history.
func (m Model) onDetailKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k, d := &m.keys, &m.detail
	switch {
	case key.Matches(msg, k.Back):
		m.screen = dashboard
	case key.Matches(msg, k.Window):
		if m.snap != nil {
			d.nextInterval(m.snap.Intervals)
			d.update(m.symbols.rows, m.hist, m.now())
			return m, m.askCandles(d.query(m.now()))
		}
	case key.Matches(msg, k.Earlier):
		return m, m.askCandles(d.page(-1, m.now()))
	case key.Matches(msg, k.Later):
		if d.live {
			return m, nil
		}
		return m, m.askCandles(d.page(1, m.now()))
	case key.Matches(msg, k.Live):
		d.live = true
		return m, m.askCandles(d.query(m.now()))
	case key.Matches(msg, k.Up):
		m.symbols.move(-1)
		return m.openDetail()
	case key.Matches(msg, k.Down):
		m.symbols.move(1)
		return m.openDetail()
	}
	return m, nil
}

// askCandles reads the candles q asks for; an answer to an earlier read
// still under way is then dropped.
func (m *Model) askCandles(q candleQuery) tea.Cmd {
	d := &m.detail
	if d.interval == 0 || q.n == 0 || m.width == 0 {
		return nil
	}
	d.seq++
	q.seq = d.seq
	d.loading, d.note = true, ""
	if q.dir == 0 {
		d.asked = m.now()
		if d.asked.IsZero() {
			d.asked = time.Unix(0, 1)
		}
	}
	return readCandles(m.src, q)
}

// candleCmd reads the live candles again when they are shown and due:
// every candleRefresh of snapshot time. A stored range is read once.
func (m *Model) candleCmd() tea.Cmd {
	d := &m.detail
	if m.screen != detail || !d.live || d.loading {
		return nil
	}
	if !d.asked.IsZero() && m.now().Sub(d.asked) < candleRefresh {
		return nil
	}
	return m.askCandles(d.query(m.now()))
}

// onCandles keeps candles read for the symbol and window shown.
func (m Model) onCandles(msg candlesMsg) (tea.Model, tea.Cmd) {
	m.detail.take(msg)
	m.detail.update(m.symbols.rows, m.hist, m.now())
	return m, nil
}

// onMouse scrolls the pane under the wheel; a click focuses a pane and
// selects a symbol.
func (m Model) onMouse(msg tea.MouseMsg) (tea.Model, tea.Cmd) {
	if m.showHelp && msg.Action == tea.MouseActionPress {
		switch msg.Button {
		case tea.MouseButtonWheelUp:
			m.manual.scroll(-1)
		case tea.MouseButtonWheelDown:
			m.manual.scroll(1)
		}
		return m, nil
	}
	if m.screen != dashboard || m.showHelp || m.ended || msg.Action != tea.MouseActionPress {
		return m, nil
	}
	d := 0
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		d = -1
	case tea.MouseButtonWheelDown:
		d = 1
	case tea.MouseButtonLeft:
	default:
		return m, nil
	}
	targets := []struct {
		f focus
		r rect
	}{{focusSymbols, m.lay.symbols}, {focusSectors, m.lay.sectors}, {focusLag, m.lay.lag}, {focusTape, m.lay.tape}, {focusEvents, m.lay.events}}
	for _, t := range targets {
		if !t.r.contains(msg.X, msg.Y) {
			continue
		}
		if d == 0 {
			// A click focuses the pane, and on a symbol selects it.
			m.setFocus(t.f)
			if t.f == focusSymbols {
				m.symbols.selectRow(msg.Y - t.r.y - 2)
			}
			return m, nil
		}
		if t.f == focusSymbols {
			m.symbols.move(d)
		} else {
			prev := m.focus
			m.focus = t.f
			m.scrollFocused(d)
			m.focus = prev
		}
		return m, nil
	}
	return m, nil
}
