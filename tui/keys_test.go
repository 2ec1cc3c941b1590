package tui

import (
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/monitor"
)

func TestSelectionMovesAndFollowsTheSymbol(t *testing.T) {
	m, _ := newTestModel(t, 12, 100, 30, 40)
	if got := m.symbols.selected; got != "AAPL" {
		t.Fatalf("first selection %q, want the top row AAPL", got)
	}
	m, _ = step(t, m, press("down"))
	m, _ = step(t, m, press("j"))
	if got := m.symbols.selected; got != "MSFT" {
		t.Fatalf("after down, j: %q, want MSFT", got)
	}
	m, _ = step(t, m, press("k"))
	if got := m.symbols.selected; got != "JPM" {
		t.Fatalf("after k: %q, want JPM", got)
	}
	// A new order keeps the selected symbol, wherever its row goes.
	m, _ = step(t, m, press("s"))
	if got := m.symbols.selected; got != "JPM" {
		t.Errorf("after sorting: %q, want JPM still", got)
	}
	m, _ = step(t, m, press("G"))
	if r, _ := m.symbols.selectedRow(); r.Symbol != m.symbols.rows[m.symbols.shown[len(m.symbols.shown)-1]].Symbol {
		t.Errorf("G selected %q, not the last row", r.Symbol)
	}
	m, _ = step(t, m, press("g"))
	if m.symbols.cursor() != 0 {
		t.Errorf("g left the cursor at %d", m.symbols.cursor())
	}
}

func TestSortCycles(t *testing.T) {
	m, _ := newTestModel(t, 12, 100, 30, 120)
	want := []sortKey{byChange, byVolume, byRate, bySector, bySymbol}
	for _, k := range want {
		m, _ = step(t, m, press("s"))
		if m.symbols.sort != k {
			t.Fatalf("sort %v, want %v", sortNames[m.symbols.sort], sortNames[k])
		}
		rows := m.symbols.rows
		for i := 1; i < len(rows); i++ {
			a, b := rows[i-1], rows[i]
			var bad bool
			switch k {
			case byChange:
				bad = a.change < b.change
			case byVolume:
				bad = a.vol1m < b.vol1m
			case byRate:
				bad = a.rate < b.rate
			case bySector:
				bad = a.Sector > b.Sector
			case bySymbol:
				bad = a.Symbol > b.Symbol
			}
			if bad {
				t.Fatalf("sorted by %s: %s before %s", sortNames[k], a.Symbol, b.Symbol)
			}
		}
		if !strings.Contains(ansi.Strip(m.View()), "sort "+sortNames[k]) {
			t.Errorf("the title does not say sort %s", sortNames[k])
		}
	}
	m, _ = step(t, m, press("S"))
	if first := m.symbols.rows[0].Symbol; first != "S11" {
		t.Errorf("reversed symbol order starts with %s, want S11", first)
	}
}

func TestFilter(t *testing.T) {
	m, _ := newTestModel(t, 12, 100, 30, 40)
	for _, k := range []string{"/", "s", "1"} {
		m, _ = step(t, m, press(k))
	}
	if !m.filtering || m.symbols.filter != "s1" {
		t.Fatalf("filtering %v with %q, want s1 typed", m.filtering, m.symbols.filter)
	}
	if len(m.symbols.shown) != 2 { // S10, S11
		t.Fatalf("%d rows shown for s1, want 2", len(m.symbols.shown))
	}
	if m.symbols.sort != bySymbol {
		t.Errorf("typing s in the filter changed the sort")
	}
	m, _ = step(t, m, press("enter"))
	if m.filtering || m.symbols.filter != "s1" || m.screen != dashboard {
		t.Fatalf("enter: filtering %v filter %q screen %v; want the filter kept", m.filtering, m.symbols.filter, m.screen)
	}
	if !strings.Contains(ansi.Strip(m.View()), "filter “s1”") {
		t.Errorf("the kept filter is not shown")
	}
	// The sector matches too.
	for _, k := range []string{"/", "backspace", "backspace"} {
		if k == "backspace" {
			m, _ = step(t, m, tea.KeyMsg{Type: tea.KeyBackspace})
			continue
		}
		m, _ = step(t, m, press(k))
	}
	for _, r := range "energy" {
		m, _ = step(t, m, press(string(r)))
	}
	for _, i := range m.symbols.shown {
		if m.symbols.rows[i].Sector != "Energy" {
			t.Errorf("filter energy shows %s of %s", m.symbols.rows[i].Symbol, m.symbols.rows[i].Sector)
		}
	}
	m, _ = step(t, m, press("esc"))
	if m.filtering || m.symbols.filter != "" || len(m.symbols.shown) != 12 {
		t.Errorf("esc: filtering %v filter %q shown %d; want everything back", m.filtering, m.symbols.filter, len(m.symbols.shown))
	}
}

func TestDetailOpensReadsCandlesAndCloses(t *testing.T) {
	m, src := newTestModel(t, 12, 120, 40, 240)
	m, _ = step(t, m, press("down"))
	m, cmd := step(t, m, press("enter"))
	if m.screen != detail || m.detail.symbol != "JPM" {
		t.Fatalf("enter: screen %v symbol %q, want the detail of JPM", m.screen, m.detail.symbol)
	}
	if cmd == nil {
		t.Fatal("no candle read asked for")
	}
	m, _ = step(t, m, cmd())
	if len(m.detail.candles) == 0 || m.detail.candles[0].Symbol != "JPM" || m.detail.interval.Seconds() != 1 {
		t.Fatalf("candles %d of %v", len(m.detail.candles), m.detail.interval)
	}
	view := ansi.Strip(m.View())
	for _, want := range []string{"JPM", "Candles", "1s candles", "VWAP", "last trade"} {
		if !strings.Contains(view, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	// w changes the window and reads again; a late answer for the old
	// window is dropped.
	m, cmd = step(t, m, press("w"))
	if m.detail.interval.Minutes() != 1 || cmd == nil {
		t.Fatalf("w: window %v, read %v", m.detail.interval, cmd != nil)
	}
	m, _ = step(t, m, candlesMsg{q: candleQuery{symbol: "JPM", interval: time.Second, seq: m.detail.seq - 1}})
	if m.detail.interval.Minutes() != 1 {
		t.Errorf("a stale answer changed the window")
	}
	m, _ = step(t, m, cmd())
	if reads := src.reads; reads != 2 {
		t.Errorf("%d candle reads, want 2", reads)
	}
	// Down shows the next symbol.
	m, _ = step(t, m, press("down"))
	if m.detail.symbol != "MSFT" {
		t.Errorf("down in the detail shows %q, want MSFT", m.detail.symbol)
	}
	m, _ = step(t, m, press("esc"))
	if m.screen != dashboard {
		t.Errorf("esc left screen %v", m.screen)
	}
}

func TestCandlesAreReadAgainOnlyWhenDue(t *testing.T) {
	m, src := newTestModel(t, 12, 120, 40, 40)
	m, cmd := step(t, m, press("enter"))
	m, _ = step(t, m, cmd())
	// The next snapshot is 250ms later: not due. Four later: due.
	m, _ = step(t, m, snapshotMsg{src.at(41)})
	if m.detail.loading {
		t.Errorf("reread after 250ms")
	}
	m, _ = step(t, m, snapshotMsg{src.at(45)})
	if !m.detail.loading {
		t.Errorf("no reread after a second")
	}
}

func TestPauseAndResume(t *testing.T) {
	m, src := newTestModel(t, 12, 160, 48, 40)
	m, cmd := step(t, m, press("p"))
	if !m.paused() || cmd == nil {
		t.Fatalf("p: paused %v", m.paused())
	}
	cmd()
	if src.pauses != 1 {
		t.Fatalf("Pause called %d times", src.pauses)
	}
	if !strings.Contains(m.View(), "PAUSED") {
		t.Errorf("the header does not say PAUSED")
	}
	m, _ = step(t, m, snapshotMsg{src.at(41)})
	if m.pauseWant != nil || !m.paused() || m.report.Stages[0] != monitor.Paused {
		t.Errorf("after the paused snapshot: want %v paused %v feed %v", m.pauseWant, m.paused(), m.report.Stages[0])
	}
	m, cmd = step(t, m, press("p"))
	cmd()
	m, _ = step(t, m, snapshotMsg{src.at(42)})
	if src.resumes != 1 || m.paused() || strings.Contains(m.View(), "PAUSED") {
		t.Errorf("resume: calls %d paused %v", src.resumes, m.paused())
	}
	if !strings.Contains(m.View(), "feed resumed") {
		t.Errorf("the events do not note the resume")
	}
}

func TestQuitDrainsThenForces(t *testing.T) {
	var stops, aborts atomic.Int32
	src := &fakeSource{f: newFixture(6)}
	m := New(src, Options{Styles: asciiStyles(), Stop: func() { stops.Add(1) }, Abort: func() { aborts.Add(1) }})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m, _ = step(t, m, snapshotMsg{src.at(8)})

	m, cmd := step(t, m, press("q"))
	cmd()
	if !m.draining || stops.Load() != 1 {
		t.Fatalf("q: draining %v, Stop called %d times", m.draining, stops.Load())
	}
	if v := m.View(); !strings.Contains(v, "DRAINING") || !strings.Contains(v, "draining: storing") {
		t.Errorf("the drain does not show")
	}
	// A second q does not force; ctrl+c does, once.
	m, cmd = step(t, m, press("q"))
	if cmd != nil || aborts.Load() != 0 {
		t.Errorf("a second q aborted")
	}
	m, cmd = step(t, m, press("ctrl+c"))
	cmd()
	m, cmd = step(t, m, press("ctrl+c"))
	if aborts.Load() != 1 || cmd != nil {
		t.Errorf("Abort called %d times", aborts.Load())
	}
	// The feed's health is judged at the next snapshot.
	m, _ = step(t, m, snapshotMsg{src.at(9)})
	if m.report.Stages[0] != monitor.Stopped {
		t.Errorf("feed %v while draining, want stopped", m.report.Stages[0])
	}
	_, cmd = step(t, m, doneMsg{})
	if cmd == nil {
		t.Fatal("no quit when the pipeline is done")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Errorf("done does not quit")
	}
}

func TestStopFromOutsideShowsTheDrain(t *testing.T) {
	m, _ := newTestModel(t, 6, 100, 30, 8)
	m, _ = step(t, m, stoppingMsg{})
	if !m.draining || !strings.Contains(m.View(), "DRAINING") {
		t.Errorf("a signal's stop does not show the drain")
	}
	m, _ = step(t, m, press("p"))
	if m.paused() {
		t.Errorf("p paused while draining")
	}
}

func TestHelpToggles(t *testing.T) {
	m, _ := newTestModel(t, 6, 100, 30, 8)
	m, _ = step(t, m, press("?"))
	if !m.showHelp || !strings.Contains(m.View(), "Partition verdicts") {
		t.Fatal("? does not open the full help")
	}
	m, _ = step(t, m, press("down"))
	if m.symbols.cursor() != 0 {
		t.Errorf("keys under the help moved the table")
	}
	m, _ = step(t, m, press("esc"))
	if m.showHelp {
		t.Errorf("esc does not close the help")
	}
	m, _ = step(t, m, press("?"))
	m, _ = step(t, m, press("?"))
	if m.showHelp {
		t.Errorf("? does not close the help")
	}
}

// TestTabReachesEveryPane cycles the focus with tab through every pane,
// the sector volume too: at 80x24, where the tape and the events fold for
// want of room, each borrows the place of the panes under the symbols
// while it is focused.
func TestTabReachesEveryPane(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {200, 60}} {
		m, _ := newTestModel(t, 12, size[0], size[1], 8)
		for _, f := range []focus{focusSectors, focusLag, focusTape, focusEvents, focusSymbols} {
			m, _ = step(t, m, press("tab"))
			if m.focus != f || !m.lay.pane(f).shown() {
				t.Fatalf("%dx%d: focus %v shown %v, want %v shown", size[0], size[1], m.focus, m.lay.pane(m.focus).shown(), f)
			}
			checkFrame(t, m, size[0], size[1])
		}
		m, _ = step(t, m, tea.KeyMsg{Type: tea.KeyShiftTab})
		if m.focus != focusEvents {
			t.Errorf("shift+tab went to %v", m.focus)
		}
	}
	// At 80x24 the symbols keep their place.
	m, _ := newTestModel(t, 12, 80, 24, 8)
	sym := m.lay.symbols
	for range 4 {
		m, _ = step(t, m, press("tab"))
		if m.lay.symbols != sym {
			t.Errorf("focusing %v moved the symbols from %+v to %+v", m.focus, sym, m.lay.symbols)
		}
	}
}

func TestMouseWheelAndClick(t *testing.T) {
	m, _ := newTestModel(t, 50, 200, 60, 40)
	r := m.lay.symbols
	m, _ = step(t, m, tea.MouseMsg{X: r.x + 5, Y: r.y + 5, Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	if m.symbols.cursor() != 1 {
		t.Errorf("the wheel moved the selection to %d", m.symbols.cursor())
	}
	m, _ = step(t, m, tea.MouseMsg{X: r.x + 5, Y: r.y + 2 + 4, Button: tea.MouseButtonLeft, Action: tea.MouseActionPress})
	if m.symbols.cursor() != 4 {
		t.Errorf("a click on the fifth row selected %d", m.symbols.cursor())
	}
	tp := m.lay.tape
	m, _ = step(t, m, tea.MouseMsg{X: tp.x + 3, Y: tp.y + 3, Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	if m.tape.offset != 1 || m.focus != focusSymbols {
		t.Errorf("the wheel over the tape: offset %d focus %v", m.tape.offset, m.focus)
	}
}

func TestSubscribePrompt(t *testing.T) {
	// A fixed source: a note, no prompt.
	m, src := newTestModel(t, 12, 160, 48, 5)
	m, _ = step(t, m, press("a"))
	if m.prompting != noPrompt || !strings.Contains(m.View(), "symbols are fixed") {
		t.Fatalf("a on a fixed source: prompting %v", m.prompting)
	}

	src.f.subscribable = true
	m, _ = step(t, m, snapshotMsg{src.at(6)})
	m, _ = step(t, m, press("a"))
	if m.prompting != subscribePrompt || !strings.Contains(m.View(), "subscribe to:") {
		t.Fatalf("a: prompting %v, footer %q", m.prompting, m.footerView())
	}
	for _, r := range "TSLA" {
		m, _ = step(t, m, press(string(r)))
	}
	// q is typed into the prompt, not a quit.
	m, _ = step(t, m, press("q"))
	if m.draining {
		t.Fatal("q in the prompt started the drain")
	}
	m, _ = step(t, m, tea.KeyMsg{Type: tea.KeyBackspace})
	m, cmd := step(t, m, press("enter"))
	if m.prompting != noPrompt || cmd == nil {
		t.Fatalf("enter: prompting %v, cmd %v", m.prompting, cmd)
	}
	m, _ = step(t, m, cmd())
	if strings.Join(src.subs, ",") != "+TSLA" || !strings.Contains(m.View(), "subscribed to TSLA") {
		t.Errorf("subscriptions %v; events say %q", src.subs, m.View())
	}

	// x offers the selected symbol; esc cancels, enter unsubscribes.
	m, _ = step(t, m, press("x"))
	sel, _ := m.symbols.selectedRow()
	if m.prompt.Value() != sel.Symbol {
		t.Errorf("x offers %q, want the selected %q", m.prompt.Value(), sel.Symbol)
	}
	m, _ = step(t, m, press("esc"))
	if m.prompting != noPrompt || len(src.subs) != 1 {
		t.Fatalf("esc: prompting %v, subs %v", m.prompting, src.subs)
	}
	m, _ = step(t, m, press("x"))
	m, cmd = step(t, m, press("enter"))
	m, _ = step(t, m, cmd())
	if src.subs[len(src.subs)-1] != "-"+sel.Symbol {
		t.Errorf("subscriptions %v, want %s removed", src.subs, sel.Symbol)
	}

	// The source's refusal is shown.
	m, _ = step(t, m, press("a"))
	for _, r := range "BAD" {
		m, _ = step(t, m, press(string(r)))
	}
	m, cmd = step(t, m, press("enter"))
	m, _ = step(t, m, cmd())
	if !strings.Contains(m.View(), "could not be subscribed to BAD: no such symbol") {
		t.Error("the refusal is not in the events")
	}
}

// TestKeyBursts feeds keys typed in one burst, which Bubble Tea v1 delivers
// as one message of several runes: on the dashboard each rune is a key,
// while text typed into the filter or the prompt goes in whole.
func TestKeyBursts(t *testing.T) {
	burst := func(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }
	tests := []struct {
		name  string
		keys  []tea.KeyMsg
		check func(t *testing.T, m Model)
	}{
		{"jjj moves three rows", []tea.KeyMsg{burst("jjj")}, func(t *testing.T, m Model) {
			if got := m.symbols.cursor(); got != 3 {
				t.Errorf("jjj left the cursor at %d, want 3", got)
			}
		}},
		{"jjk moves one row", []tea.KeyMsg{burst("jjk")}, func(t *testing.T, m Model) {
			if got := m.symbols.cursor(); got != 1 {
				t.Errorf("jjk left the cursor at %d, want 1", got)
			}
		}},
		{"Ss reverses, then sorts by change", []tea.KeyMsg{burst("Ss")}, func(t *testing.T, m Model) {
			if m.symbols.sort != byChange || m.symbols.reverse {
				t.Errorf("Ss: sort %s reverse %v, want chg%% not reversed", sortNames[m.symbols.sort], m.symbols.reverse)
			}
		}},
		{"sS sorts by change, reversed", []tea.KeyMsg{burst("sS")}, func(t *testing.T, m Model) {
			if m.symbols.sort != byChange || !m.symbols.reverse {
				t.Errorf("sS: sort %s reverse %v, want chg%% reversed", sortNames[m.symbols.sort], m.symbols.reverse)
			}
		}},
		{"a filter typed in a burst goes in whole", []tea.KeyMsg{press("/"), burst("jpm")}, func(t *testing.T, m Model) {
			if !m.filtering || m.symbols.filter != "jpm" || m.symbols.cursor() != 0 {
				t.Errorf("filtering %v filter %q cursor %d, want jpm typed", m.filtering, m.symbols.filter, m.symbols.cursor())
			}
		}},
		{"keys after / in one burst are the filter's", []tea.KeyMsg{burst("j/sq")}, func(t *testing.T, m Model) {
			if !m.filtering || m.symbols.filter != "sq" || m.draining {
				t.Errorf("filtering %v filter %q draining %v, want the filter sq after one move", m.filtering, m.symbols.filter, m.draining)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestModel(t, 12, 100, 30, 40)
			for _, k := range tt.keys {
				m, _ = step(t, m, k)
			}
			tt.check(t, m)
		})
	}
}

// TestBurstInThePrompt types a symbol to subscribe to in one burst.
func TestBurstInThePrompt(t *testing.T) {
	m, src := newTestModel(t, 12, 160, 48, 5)
	src.f.subscribable = true
	m, _ = step(t, m, snapshotMsg{src.at(6)})
	m, _ = step(t, m, press("a"))
	m, _ = step(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("TSLAq")})
	if got := m.prompt.Value(); got != "TSLAq" || m.draining {
		t.Errorf("prompt %q draining %v, want TSLAq typed whole", got, m.draining)
	}
}

// TestEndOfRun checks what the UI does when the pipeline has stopped: it
// exits after a quit or an interruption, and shows the run's summary, from
// the final snapshot, when the run ended by itself.
func TestEndOfRun(t *testing.T) {
	tests := []struct {
		name        string
		before      []tea.Msg
		interrupted bool
		summary     string // "" for an exit
	}{
		{name: "the feed ends", summary: "The feed ended by itself"},
		{name: "a time limit", before: []tea.Msg{stoppingMsg{}}, summary: "reached its time limit"},
		{name: "q", before: []tea.Msg{press("q")}},
		{name: "a signal", before: []tea.Msg{stoppingMsg{}}, interrupted: true},
		{name: "a failure", interrupted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, src := newTestModel(t, 12, 100, 30, 40)
			for _, msg := range tt.before {
				m, _ = step(t, m, msg)
			}
			final := src.at(48)
			m, cmd := step(t, m, doneMsg{snap: final, interrupted: tt.interrupted})
			quits := cmd != nil && isQuit(cmd())
			if tt.summary == "" {
				if !quits {
					t.Fatalf("no exit when the pipeline is done")
				}
				return
			}
			if quits {
				t.Fatalf("exits at once; want the summary first")
			}
			view := ansi.Strip(m.View())
			for _, want := range []string{"Run ended", tt.summary, "ENDED", "any key exits",
				"produced          " + fmtInt(final.Produced) + " trades", "stored            " + fmtInt(final.StoredTrades) + " trades",
				"late              2", "duplicates        0", "dropped by feed   0", "errors            5",
				"latency p50       14ms", "latency p99       2400ms", "latency max       3100ms"} {
				if !strings.Contains(view, want) {
					t.Errorf("the summary lacks %q:\n%s", want, view)
				}
			}
			// Any key exits, even one that means something elsewhere.
			for _, k := range []string{"j", "?", "enter"} {
				if _, cmd := step(t, m, press(k)); cmd == nil || !isQuit(cmd()) {
					t.Errorf("%s on the summary does not exit", k)
				}
			}
		})
	}
}

func isQuit(msg tea.Msg) bool {
	_, ok := msg.(tea.QuitMsg)
	return ok
}

// TestHelpReachesEveryKey opens the help at 80x24 and scrolls it to its
// end: every key the UI answers to is there, with what it does; a and x
// only for a source that takes subscriptions, + and - for one whose rate
// can change. The footer always says how
// to open the help, and the header cuts no word.
func TestHelpReachesEveryKey(t *testing.T) {
	for _, can := range []bool{false, true} {
		t.Run(fmt.Sprintf("subscribable and paced=%v", can), func(t *testing.T) {
			src := &fakeSource{f: newFixture(50)}
			src.f.subscribable, src.f.paced, src.f.pace = can, can, 1000
			m := New(src, Options{Styles: asciiStyles()})
			m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
			for k := 0; k <= 40; k += 4 {
				m, _ = step(t, m, snapshotMsg{src.at(k)})
			}
			view := ansi.Strip(m.View())
			lines := strings.Split(view, "\n")
			if footer := lines[len(lines)-1]; !strings.Contains(footer, "? help") || !strings.Contains(footer, "q quit") {
				t.Errorf("the footer at 80x24 does not say ? help and q quit: %q", footer)
			}
			if strings.Contains(lines[0], "…") {
				t.Errorf("the header cuts a word at 80x24: %q", lines[0])
			}

			m, _ = step(t, m, press("?"))
			seen := map[string]bool{}
			for range 100 {
				for _, l := range strings.Split(ansi.Strip(m.View()), "\n") {
					seen[strings.Join(strings.Fields(strings.Trim(l, "┃│ ")), " ")] = true
				}
				before := m.View()
				m, _ = step(t, m, tea.KeyMsg{Type: tea.KeyPgDown})
				if m.View() == before {
					break
				}
			}
			if !m.showHelp {
				t.Fatal("scrolling closed the help")
			}
			shown := func(b key.Binding) bool {
				want := b.Help().Key + " " + b.Help().Desc
				for l := range seen {
					if strings.Contains(" "+l+" ", " "+want+" ") {
						return true
					}
				}
				return false
			}
			kv := reflect.ValueOf(m.keys)
			for i := range kv.NumField() {
				b, ok := kv.Field(i).Interface().(key.Binding)
				name := kv.Type().Field(i).Name
				if !ok || b.Help().Key == "" {
					continue
				}
				want := true
				switch name {
				case "Apply", "Clear":
					continue // the filter's own, in its footer
				case "Subscribe", "Unsubscribe", "Faster", "Slower":
					want = can
				case "StopService":
					want = false // a viewer's alone
				}
				if got := shown(b); got != want {
					t.Errorf("%s (%q %q) in the help: %v, want %v", name, b.Help().Key, b.Help().Desc, got, want)
				}
			}
		})
	}
}

// TestDetailReadsStoredHistory pages the detail's candles back past this
// run's start into an earlier run's, the day before, and forward again to
// live; the candle pane says which range it shows.
func TestDetailReadsStoredHistory(t *testing.T) {
	src := &fakeSource{f: newFixture(12)}
	// An earlier run stored an hour of candles the day before.
	yesterday := t0.Add(-20 * time.Hour)
	src.f.earlier = []timeSpan{{yesterday, yesterday.Add(time.Hour)}}
	m := New(src, Options{Styles: asciiStyles()})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
	for k := 0; k <= 240; k += 4 { // a minute of this run
		m, _ = step(t, m, snapshotMsg{src.at(k)})
	}
	// run presses a key in the detail and runs the read it asks for.
	run := func(k string) {
		t.Helper()
		var cmd tea.Cmd
		m, cmd = step(t, m, press(k))
		if cmd == nil {
			t.Fatalf("%s asks for no candles", k)
		}
		m, _ = step(t, m, cmd())
	}
	candleInfo := func() string {
		for _, l := range strings.Split(ansi.Strip(m.View()), "\n") {
			if i := strings.Index(l, "Candles · "); i >= 0 {
				info, _, _ := strings.Cut(l[i:], " ━")
				return info
			}
		}
		return ""
	}
	run("enter")
	n := len(m.detail.candles)
	if n == 0 || !m.detail.live {
		t.Fatalf("the detail opens with %d candles, live %v", n, m.detail.live)
	}
	if info := candleInfo(); !strings.Contains(info, "1s candles · live") || !strings.Contains(info, "UTC") {
		t.Errorf("the candles' title does not say they are live, and when: %q", info)
	}
	first := m.detail.candles[0].Start

	// [ shows the screen of candles before: this run's first, then the
	// earlier run's, across the night between.
	run("[")
	cs := m.detail.candles
	if len(cs) != n || !cs[len(cs)-1].Start.Before(first) || m.detail.live {
		t.Fatalf("[ shows %d candles, the last at %v, live %v; want %d before %v", len(cs), cs[len(cs)-1].Start, m.detail.live, n, first)
	}
	if !cs[0].Start.Before(t0) {
		t.Errorf("[ does not reach back past this run's start to the stored hour before")
	}
	if info := candleInfo(); !strings.Contains(info, "1s candles · stored · Jan 1") || !strings.Contains(info, "–Jan 2") {
		t.Errorf("the title does not say the range, from one day to the next: %q", info)
	}
	run("[")
	cs = m.detail.candles
	if len(cs) != n || !cs[len(cs)-1].Start.Before(t0) || cs[0].Start.Before(yesterday) {
		t.Fatalf("a second [ shows %d candles from %v to %v; want %d of the earlier run", len(cs), cs[0].Start, cs[len(cs)-1].Start, n)
	}
	if info := candleInfo(); strings.Contains(info, "Jan 2") || !strings.Contains(info, "Jan 1") {
		t.Errorf("the title does not say the earlier run's range: %q", info)
	}
	back := cs[0].Start

	// w keeps the place in time; ↓ shows the next symbol at the same place.
	run("w")
	if cs = m.detail.candles; len(cs) == 0 || cs[0].Interval != time.Minute || cs[len(cs)-1].Start.After(back.Add(time.Duration(n)*time.Second)) {
		t.Errorf("w: %d candles, want 1m candles of the earlier run", len(cs))
	}
	run("w")
	run("down")
	if cs = m.detail.candles; m.detail.symbol != "JPM" || len(cs) == 0 || !cs[len(cs)-1].Start.Before(t0) {
		t.Errorf("down shows %s with %d candles, want JPM's of the earlier run", m.detail.symbol, len(cs))
	}

	// ] goes forward, and back to live when it reaches the present; G
	// goes straight there.
	run("]")
	if cs = m.detail.candles; !cs[0].Start.After(back) || m.detail.live {
		t.Errorf("] shows candles from %v, live %v; want later than %v", cs[0].Start, m.detail.live, back)
	}
	for range 5 {
		if m.detail.live {
			break
		}
		run("]")
	}
	if !m.detail.live || !strings.Contains(candleInfo(), "candles · live") {
		t.Errorf("] never came back to live: %q", candleInfo())
	}
	run("[")
	run("G")
	if !m.detail.live || m.detail.candles[len(m.detail.candles)-1].Start.Before(t0) {
		t.Errorf("G does not go back to live")
	}
}
