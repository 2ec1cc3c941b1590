package tui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
)

// keyMap is every key the UI answers to.
type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Enter, Back, Focus, FocusBack           key.Binding
	Sort, Reverse, Filter, Pause, Window    key.Binding
	Subscribe, Unsubscribe                  key.Binding
	Help, Quit                              key.Binding
	// While the filter is typed.
	Apply, Clear key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Up:          key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:        key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:      key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown:    key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Top:         key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "first")),
		Bottom:      key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "last")),
		Enter:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "detail")),
		Back:        key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Focus:       key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		FocusBack:   key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		Sort:        key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		Reverse:     key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "reverse sort")),
		Filter:      key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Pause:       key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause feed")),
		Subscribe:   key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "subscribe a symbol")),
		Unsubscribe: key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "unsubscribe a symbol")),
		Window:      key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "candle window")),
		Help:        key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:        key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Apply:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
		Clear:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
}

// dashboardHelp, detailHelp and filterHelp are the help of each screen.
type (
	dashboardHelp struct{ k *keyMap }
	detailHelp    struct{ k *keyMap }
	filterHelp    struct{ k *keyMap }
)

var (
	_ help.KeyMap = dashboardHelp{}
	_ help.KeyMap = detailHelp{}
	_ help.KeyMap = filterHelp{}
)

func (h dashboardHelp) ShortHelp() []key.Binding {
	k := h.k
	return []key.Binding{k.Up, k.Down, k.Enter, k.Filter, k.Sort, k.Pause, k.Focus, k.Help, k.Quit}
}

func (h dashboardHelp) FullHelp() [][]key.Binding {
	k := h.k
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Enter, k.Back, k.Focus, k.FocusBack},
		{k.Sort, k.Reverse, k.Filter, k.Window},
		{k.Pause, k.Subscribe, k.Unsubscribe, k.Help, k.Quit},
	}
}

func (h detailHelp) ShortHelp() []key.Binding {
	k := h.k
	return []key.Binding{k.Back, k.Up, k.Down, k.Window, k.Pause, k.Help, k.Quit}
}

func (h detailHelp) FullHelp() [][]key.Binding { return dashboardHelp(h).FullHelp() }

func (h filterHelp) ShortHelp() []key.Binding {
	k := h.k
	return []key.Binding{k.Apply, k.Clear, k.Up, k.Down}
}

func (h filterHelp) FullHelp() [][]key.Binding { return [][]key.Binding{h.ShortHelp()} }

// promptHelp is the help while a symbol to subscribe or unsubscribe is
// typed.
type promptHelp struct{ k *keyMap }

var _ help.KeyMap = promptHelp{}

func (h promptHelp) ShortHelp() []key.Binding {
	return []key.Binding{
		key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "confirm")),
		key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
}

func (h promptHelp) FullHelp() [][]key.Binding { return [][]key.Binding{h.ShortHelp()} }
