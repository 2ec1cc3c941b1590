package tui

import (
	"slices"

	"github.com/charmbracelet/bubbles/key"

	"github.com/tradetop/tradetop/state"
)

// keyMap is every key the UI answers to.
type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Enter, Back, Focus, FocusBack           key.Binding
	Sort, Reverse, Filter, Pause, Window    key.Binding
	Earlier, Later, Live                    key.Binding
	Subscribe, Unsubscribe                  key.Binding
	Browse                                  key.Binding
	Faster, Slower                          key.Binding
	Help, Quit                              key.Binding
	// A viewer's: stop the pipeline it watches.
	StopService key.Binding
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
		Browse:      key.NewBinding(key.WithKeys("b"), key.WithHelp("b", "browse the topic")),
		Faster:      key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "faster feed")),
		Slower:      key.NewBinding(key.WithKeys("-", "_"), key.WithHelp("-", "slower feed")),
		Window:      key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "candle window")),
		Earlier:     key.NewBinding(key.WithKeys("["), key.WithHelp("[", "earlier candles")),
		Later:       key.NewBinding(key.WithKeys("]"), key.WithHelp("]", "later candles")),
		Live:        key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "live candles")),
		Help:        key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:        key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		StopService: key.NewBinding(key.WithKeys("Q"), key.WithHelp("Q", "stop the service (asks first)")),
		Apply:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
		Clear:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
}

// helpOnly is a line of the help that names keys bound elsewhere under
// another meaning. It is never matched against a key; its one key is only
// there because the help leaves out bindings without keys.
func helpOnly(keys, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(keys), key.WithHelp(keys, desc))
}

// sections lists every key by where it works, for the full help. Keys the
// source cannot use are left out: + and - unless its rate can change, a
// and x unless it takes subscriptions. A viewer's q leaves it, and its Q,
// when it has one, stops the pipeline it watches.
func (k *keyMap) sections(s *state.Snapshot, o Options) []helpSection {
	var feed []key.Binding
	if s == nil || s.Role != "process" {
		feed = append(feed, k.Pause)
	}
	if s != nil && s.RateAdjustable {
		feed = append(feed, k.Faster, k.Slower)
	}
	if s != nil && s.Subscribable {
		feed = append(feed, k.Subscribe, k.Unsubscribe)
	}
	anywhere := []key.Binding{k.Help, k.Quit, helpOnly("ctrl+c", "while draining: stop at once")}
	if o.Viewer {
		anywhere = []key.Binding{k.Help, helpOnly("q", "leave; the service runs on")}
		if o.StopService != nil {
			anywhere = append(anywhere, k.StopService)
		}
	}
	all := []helpSection{
		{"Move", []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Focus, k.FocusBack}},
		{"Symbols", []key.Binding{k.Enter, k.Filter, k.Clear, k.Sort, k.Reverse}},
		{"Events (tab to them)", []key.Binding{helpOnly("↑/↓", "select an event"), helpOnly("enter", "show it whole, or back"),
			helpOnly("/", "search the events"), helpOnly("esc", "clear the search")}},
		{"Detail", []key.Binding{helpOnly("↑/↓", "previous/next symbol"), k.Window, k.Earlier, k.Later, k.Live, k.Back}},
		{"Topic browser", browseHelp(k)},
		{"Feed", feed},
		{"Anywhere", anywhere},
	}
	// A processor has no feed to steer.
	return slices.DeleteFunc(all, func(h helpSection) bool { return len(h.keys) == 0 })
}

// browseHelp lists the keys of the topic browser. Where the UI has none
// (a viewer elsewhere), b says so.
func browseHelp(k *keyMap) []key.Binding {
	return []key.Binding{k.Browse, helpOnly("←/→ t", "partition; dead letters"),
		helpOnly("enter [ ]", "message; older/newer"), helpOnly("g G f", "go to; newest; follow"),
		helpOnly("r R", "re-drive one/all (asks)")}
}

// footerKeys are the keys the footer names for what is shown, most useful
// first; the help and quit keys come after them, always shown.
func (m *Model) footerKeys() []key.Binding {
	k := &m.keys
	switch {
	case m.filtering:
		return []key.Binding{k.Apply, k.Clear, helpOnly("↑/↓", "move")}
	case m.searching:
		return []key.Binding{helpOnly("enter", "keep search"), helpOnly("esc", "clear search"), helpOnly("↑/↓", "select")}
	case m.showHelp:
		return []key.Binding{helpOnly("↑/↓", "scroll"), helpOnly("pgup/pgdn", "page"), helpOnly("?/esc", "close")}
	case m.screen == browse && m.browse.open:
		return []key.Binding{helpOnly("esc", "back to the list")}
	case m.screen == browse && m.browse.dlq:
		return []key.Binding{helpOnly("r/R", "re-drive one/all"), helpOnly("enter", "message"), helpOnly("t", "the topic"),
			helpOnly("←/→", "partition"), helpOnly("g", "go to"), helpOnly("f", "follow"), helpOnly("[/]", "older/newer"), helpOnly("esc", "back")}
	case m.screen == browse:
		return []key.Binding{helpOnly("enter", "message"), helpOnly("←/→", "partition"), helpOnly("t", "dead letters"),
			helpOnly("f", "follow"), helpOnly("g", "go to"), helpOnly("[/]", "older/newer"), helpOnly("esc", "back")}
	case m.screen == detail && !m.detail.live:
		return []key.Binding{k.Back, k.Earlier, k.Later, k.Live, k.Window, helpOnly("↑/↓", "symbol")}
	case m.screen == detail:
		return m.feedKeys(k.Back, k.Earlier, k.Window, helpOnly("↑/↓", "symbol"), k.Pause)
	case m.focus == focusEvents && m.events.expanded:
		return []key.Binding{helpOnly("↑/↓", "scroll"), helpOnly("enter/esc", "back to the list"), k.Focus}
	case m.focus == focusEvents:
		return []key.Binding{helpOnly("↑/↓", "select"), helpOnly("enter", "show whole"), helpOnly("/", "search"), k.Focus}
	}
	return m.feedKeys(k.Up, k.Down, k.Enter, k.Filter, k.Sort, k.Pause, k.Focus)
}

// feedKeys returns keys without the pause key when this process has no
// feed to pause.
func (m *Model) feedKeys(keys ...key.Binding) []key.Binding {
	if m.snap == nil || m.snap.Role != "process" {
		return keys
	}
	return slices.DeleteFunc(keys, func(b key.Binding) bool { return b.Help() == m.keys.Pause.Help() })
}

// promptKeys are the footer's keys while a symbol to subscribe or
// unsubscribe is typed.
var promptKeys = []key.Binding{helpOnly("enter", "confirm"), helpOnly("esc", "cancel")}
