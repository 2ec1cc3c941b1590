package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"
)

// promptKind says what the symbol typed in the prompt is for.
type promptKind int

const (
	noPrompt promptKind = iota
	subscribePrompt
	unsubscribePrompt
	gotoPrompt // an offset or a time to go to, in the topic browser
)

// subscribedMsg is the answer of the source to a subscription change.
type subscribedMsg struct {
	kind   promptKind
	symbol string
	err    error
}

// openPrompt asks for a symbol to subscribe to or unsubscribe from, the
// selected one offered for the latter. A source whose symbols are fixed
// gets a note instead.
func (m Model) openPrompt(kind promptKind) (tea.Model, tea.Cmd) {
	if kind == gotoPrompt {
		m.prompting = kind
		m.prompt.SetValue("")
		m.prompt.Placeholder = "an offset, 15:04:05 or an RFC 3339 time"
		m.prompt.Prompt = "go to: "
		return m, m.prompt.Focus()
	}
	if m.draining || m.refuseControl("changing the subscriptions") {
		return m, nil
	}
	if m.snap == nil || !m.snap.Subscribable {
		name := "this"
		if m.snap != nil {
			name = "the " + m.snap.Source
		}
		m.events.note(m.now(), name+" source's symbols are fixed; subscribing needs a live source such as --source finnhub")
		return m, nil
	}
	m.prompting = kind
	m.prompt.SetValue("")
	m.prompt.Placeholder = "symbol, e.g. AAPL or BINANCE:BTCUSDT"
	m.prompt.Prompt = "subscribe to: "
	if kind == unsubscribePrompt {
		m.prompt.Prompt = "unsubscribe from: "
		if r, ok := m.symbols.selectedRow(); ok {
			m.prompt.SetValue(r.Symbol)
			m.prompt.CursorEnd()
		}
	}
	return m, m.prompt.Focus()
}

// onPromptKey edits the prompt; enter sends the change to the source and
// esc cancels it.
func (m Model) onPromptKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.prompting = noPrompt
		m.prompt.Blur()
		return m, nil
	case "enter":
		kind, symbol := m.prompting, strings.TrimSpace(m.prompt.Value())
		m.prompting = noPrompt
		m.prompt.Blur()
		if symbol == "" {
			return m, nil
		}
		if kind == gotoPrompt {
			return m.onGoto(symbol)
		}
		return m, changeSubscription(m.src, kind, symbol)
	}
	var cmd tea.Cmd
	m.prompt, cmd = m.prompt.Update(msg)
	return m, cmd
}

// changeSubscription asks the source, off the program's goroutine, to
// subscribe to or unsubscribe from symbol.
func changeSubscription(src Source, kind promptKind, symbol string) tea.Cmd {
	return func() tea.Msg {
		var err error
		if kind == subscribePrompt {
			err = src.Subscribe(symbol)
		} else {
			err = src.Unsubscribe(symbol)
		}
		return subscribedMsg{kind: kind, symbol: symbol, err: err}
	}
}

// onSubscribed notes how a subscription change went.
func (m Model) onSubscribed(msg subscribedMsg) (tea.Model, tea.Cmd) {
	verb := "subscribed to "
	if msg.kind == unsubscribePrompt {
		verb = "unsubscribed from "
	}
	if msg.err != nil {
		m.events.note(m.now(), "could not be "+verb+msg.symbol+": "+msg.err.Error())
		return m, nil
	}
	m.events.note(m.now(), verb+msg.symbol)
	return m, nil
}
