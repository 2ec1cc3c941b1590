package tui

import (
	"cmp"
	"slices"
	"time"

	"github.com/charmbracelet/bubbles/help"
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
	head := header(m.st, w, m.snap, m.health.stages, m.stateBadge())
	return head + "\n" + m.bodyView() + "\n" + m.footerView()
}

// stateBadge says, in the header, when the pipeline is not simply running.
func (m *Model) stateBadge() string {
	switch {
	case m.ended:
		return m.st.Idle.Render("ENDED")
	case m.aborting:
		return m.st.Bad.Render("STOPPING NOW")
	case m.draining:
		return m.st.Warn.Render("DRAINING…")
	case m.paused():
		return m.st.Warn.Render("PAUSED")
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
		var win time.Duration = m.lags.window
		var km help.KeyMap = dashboardHelp{&m.keys}
		return helpView(m.st, m.help, km, b.w, b.h, win)
	case m.screen == detail:
		return m.detail.View()
	case !m.lay.symbols.shown():
		return blankBlock(b.w, b.h)
	}
	filterLine := ""
	if m.filtering {
		filterLine = m.filter.View()
	}
	m.symbols.typing = m.filtering
	blocks := []block{{m.lay.symbols, splitLines(m.symbols.View(m.focus == focusSymbols, filterLine))}}
	if m.lay.sectors.shown() {
		blocks = append(blocks, block{m.lay.sectors, splitLines(m.sectors.View())})
	}
	if m.lay.lag.shown() {
		blocks = append(blocks, block{m.lay.lag, splitLines(m.lag.View(m.focus == focusLag))})
	}
	if m.lay.tape.shown() {
		blocks = append(blocks, block{m.lay.tape, splitLines(m.tape.View(m.focus == focusTape))})
	}
	if m.lay.events.shown() {
		blocks = append(blocks, block{m.lay.events, splitLines(m.events.View(m.focus == focusEvents))})
	}
	slices.SortFunc(blocks, func(a, b block) int { return cmp.Compare(a.at.x, b.at.x) })
	return compose(b, blocks)
}

// footerView is the key help of the screen shown, or the drain's progress.
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
	if m.prompting != noPrompt {
		hm := m.help
		hm.Width = w
		return fit(m.prompt.View()+"  "+hm.ShortHelpView(promptHelp{&m.keys}.ShortHelp()), w)
	}
	var km help.KeyMap = dashboardHelp{&m.keys}
	switch {
	case m.filtering:
		km = filterHelp{&m.keys}
	case m.showHelp:
		return fit(st.Dim.Render("? or esc: close help · q: quit"), w)
	case m.screen == detail:
		km = detailHelp{&m.keys}
	}
	hm := m.help
	hm.Width = w
	return fit(hm.ShortHelpView(km.ShortHelp()), w)
}
