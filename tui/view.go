package tui

import (
	"cmp"
	"slices"

	"github.com/charmbracelet/bubbles/key"
)

// View draws the screen: header, body, footer, exactly the terminal's size.
func (m Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	w, h := m.width, m.height
	if h < headerHeight+footerHeight+1 {
		return fit(m.st.App.Render("tradetop")+" "+m.st.Dim.Render("needs a taller terminal"), w)
	}
	pace := ""
	if r, ok := m.rate(); ok {
		pace = fmtPace(r)
	}
	head := header(m.st, w, m.snap, m.report.Stages, m.stateBadge(), pace)
	return head + "\n" + m.bodyView() + "\n" + m.footerView()
}

// stateBadge says, in the header, when the pipeline is not simply running,
// and when a viewer has lost it or may not steer it.
func (m *Model) stateBadge() string {
	state := m.pipelineBadge()
	if l := m.linkBadge(); l != "" {
		if state == "" {
			return l
		}
		return l + "  " + state
	}
	return state
}

// pipelineBadge is the state of the pipeline in the header.
func (m *Model) pipelineBadge() string {
	switch {
	case m.ended:
		return m.st.Idle.Render("ENDED")
	case m.aborting:
		return m.st.Bad.Render("STOPPING NOW")
	case m.draining, m.opts.Viewer && m.snap != nil && m.snap.Draining:
		return m.st.Warn.Render("DRAINING…")
	case m.paused():
		return m.st.Warn.Render("PAUSED")
	case m.snap != nil && m.snap.Joined && len(m.snap.Assigned) == 0:
		// More members than partitions: this one stands by.
		return m.st.Idle.Render("IDLE")
	}
	return ""
}

func (m *Model) bodyView() string {
	b := m.lay.body
	switch {
	case b.h <= 0:
		return ""
	case m.ended:
		return m.summary.View()
	case m.showHelp:
		return m.manual.View()
	case m.screen == browse:
		return m.browse.View()
	case m.screen == detail:
		return m.detail.View()
	}
	var blocks []block
	if m.lay.symbols.shown() {
		filterLine := ""
		if m.filtering {
			filterLine = m.filter.View()
		}
		blocks = append(blocks, block{m.lay.symbols, splitLines(m.symbols.View(m.focus == focusSymbols, filterLine))})
	}
	if m.lay.sectors.shown() {
		blocks = append(blocks, block{m.lay.sectors, splitLines(m.sectors.View(m.focus == focusSectors))})
	}
	if m.lay.lag.shown() {
		blocks = append(blocks, block{m.lay.lag, splitLines(m.lag.View(m.focus == focusLag))})
	}
	if m.lay.tape.shown() {
		blocks = append(blocks, block{m.lay.tape, splitLines(m.tape.View(m.focus == focusTape))})
	}
	if m.lay.events.shown() {
		searchLine := ""
		if m.searching {
			searchLine = m.search.View()
		}
		blocks = append(blocks, block{m.lay.events, splitLines(m.events.View(m.focus == focusEvents, searchLine))})
	}
	if len(blocks) == 0 {
		return blankBlock(b.w, b.h)
	}
	slices.SortFunc(blocks, func(a, b block) int { return cmp.Compare(a.at.x, b.at.x) })
	return compose(b, blocks)
}

// footerView is the key help of the screen shown, or the drain's progress.
// However narrow the terminal, it says how to open the help and quit.
func (m *Model) footerView() string {
	st, w := m.st, m.width
	if m.ended {
		return fit(st.Bold.Render("the run is over")+st.Dim.Render(" · any key exits"), w)
	}
	if m.draining {
		msg := "draining: storing every trade produced, then exiting · ctrl+c stops at once"
		if m.aborting {
			msg = "stopping at once"
		}
		if m.snap != nil {
			msg += " · stored " + fmtInt(m.snap.StoredTrades) + " of " + fmtInt(m.snap.Produced)
		}
		return fit(st.Warn.Render(msg), w)
	}
	hm := m.help
	if m.flash != "" {
		return fit(st.Warn.Render(m.flash), w)
	}
	if m.confirming {
		hm.Width = w
		return fit(st.Warn.Render("stop the service? it drains what was produced and exits")+"  "+hm.ShortHelpView(confirmKeys), w)
	}
	if m.redriving != nil {
		hm.Width = w
		return fit(st.Warn.Render(m.redriving.question)+"  "+hm.ShortHelpView(redriveKeys), w)
	}
	if m.prompting != noPrompt {
		hm.Width = w
		return fit(m.prompt.View()+"  "+hm.ShortHelpView(promptKeys), w)
	}
	keys := m.footerKeys()
	var always []key.Binding
	switch {
	case m.filtering, m.searching:
	case m.showHelp:
		always = []key.Binding{m.keys.Quit}
	default:
		always = []key.Binding{m.keys.Help, m.keys.Quit}
	}
	right := ""
	if len(always) > 0 {
		right = hm.ShortHelpView(always)
	}
	sep := st.Dim.Render(" • ")
	hm.Width = max(w-width(right)-width(sep), 1)
	left := hm.ShortHelpView(keys)
	if right == "" {
		return fit(left, w)
	}
	return fit(left+sep+right, w)
}
