package tui

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

// screens drives a model to each screen worth a golden file.
var screens = []struct {
	name string
	keys []string
}{
	{"dashboard", nil},
	{"detail", []string{"down", "enter"}},
	{"help", []string{"?"}},
	{"filter", []string{"/", "s", "0"}},
	{"sorted", []string{"s", "tab"}},
}

// drive presses keys, running the candle read a key asks for.
func drive(t testing.TB, m Model, keys []string) Model {
	t.Helper()
	for _, k := range keys {
		var cmd tea.Cmd
		m, cmd = step(t, m, press(k))
		if k == "enter" && cmd != nil {
			m, _ = step(t, m, cmd())
		}
	}
	return m
}

func TestGoldenScreens(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		for _, sc := range screens {
			name := fmt.Sprintf("%s_%dx%d", sc.name, size[0], size[1])
			t.Run(name, func(t *testing.T) {
				// A minute and a half of a 12-symbol pipeline, a snapshot a
				// second.
				src := &fakeSource{f: newFixture(12)}
				m := New(src, Options{Styles: asciiStyles()})
				m, _ = step(t, m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				for k := 0; k <= 360; k += 4 {
					m, _ = step(t, m, snapshotMsg{src.at(k)})
				}
				m = drive(t, m, sc.keys)
				golden(t, name, m.View())
			})
		}
	}
}

// golden compares got with testdata/name.golden; -update rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./tui -run TestGolden -update creates it)", err)
	}
	if got == string(want) {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Errorf("%s differs from %s at line %d (-update rewrites it if the change is meant):\ngot:  %q\nwant: %q\n\nscreen:\n%s", name, path, i+1, gl, wl, got)
			return
		}
	}
}

// TestViewFitsEverySize renders every screen at sizes from tiny to huge,
// with colours on and off, and checks that the frame is exactly the
// terminal's size and that every pane's border is whole.
func TestViewFitsEverySize(t *testing.T) {
	sizes := [][2]int{
		{80, 24}, {100, 30}, {160, 48}, {200, 60}, {300, 80},
		{120, 40}, {119, 40}, {72, 24}, {60, 20}, {40, 12}, {20, 6}, {10, 4}, {1, 1}, {80, 5}, {250, 20},
	}
	colour := lipgloss.NewRenderer(io.Discard)
	colour.SetColorProfile(termenv.ANSI256)
	themes := map[string]*Styles{"ascii": asciiStyles(), "256": NewStyles(colour)}
	// Each screen in turn, and back, the way a user gets there.
	visits := [][]string{nil, {"?"}, {"?", "down", "enter"}, {"esc", "/", "s", "0"}, {"esc", "s", "tab"},
		{"tab", "tab", "enter"}, {"down", "enter", "/", "k"}, {"esc", "esc", "tab"}}
	for themeName, st := range themes {
		for _, size := range sizes {
			w, h := size[0], size[1]
			t.Run(fmt.Sprintf("%s/%dx%d", themeName, w, h), func(t *testing.T) {
				src := &fakeSource{f: newFixture(50)}
				m := New(src, Options{Styles: st})
				m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
				for k := 0; k <= 200; k += 40 {
					m, _ = step(t, m, snapshotMsg{src.at(k)})
				}
				for _, keys := range visits {
					m = drive(t, m, keys)
					checkFrame(t, m, w, h)
				}
				// Resizing live lays the screen out again.
				w2, h2 := h*3+7, w/3+5
				m, _ = step(t, m, tea.WindowSizeMsg{Width: w2, Height: h2})
				checkFrame(t, m, w2, h2)
				// The run ends by itself: its summary fits too.
				m, _ = step(t, m, doneMsg{snap: src.at(204)})
				checkFrame(t, m, w2, h2)
				m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
				checkFrame(t, m, w, h)
			})
		}
	}
}

func checkFrame(t *testing.T, m Model, w, h int) {
	t.Helper()
	view := m.View()
	lines := strings.Split(view, "\n")
	if len(lines) > h {
		t.Fatalf("%d lines at height %d", len(lines), h)
	}
	if h >= headerHeight+footerHeight+1 && len(lines) != h {
		t.Errorf("%d lines, want the full height %d", len(lines), h)
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			t.Fatalf("line %d is %d wide at width %d: %q", i, lw, w, ansi.Strip(l))
		} else if w >= 20 && h >= 4 && lw != w {
			t.Errorf("line %d is %d wide, want the full width %d: %q", i, lw, w, ansi.Strip(l))
		}
	}
	if m.screen != dashboard || m.showHelp || m.ended {
		return
	}
	plain := make([][]rune, len(lines))
	for i, l := range lines {
		plain[i] = []rune(ansi.Strip(l))
	}
	at := func(x, y int) rune {
		if y < 0 || y >= len(plain) || x < 0 || x >= len(plain[y]) {
			return 0
		}
		return plain[y][x]
	}
	for _, r := range []rect{m.lay.symbols, m.lay.sectors, m.lay.lag, m.lay.tape, m.lay.events} {
		if !r.shown() {
			continue
		}
		corners := string([]rune{at(r.x, r.y), at(r.x+r.w-1, r.y), at(r.x, r.y+r.h-1), at(r.x+r.w-1, r.y+r.h-1)})
		if corners != "╭╮╰╯" && corners != "┏┓┗┛" {
			t.Errorf("pane at %+v has corners %q", r, corners)
		}
		for y := r.y + 1; y < r.y+r.h-1; y++ {
			if l, rr := at(r.x, y), at(r.x+r.w-1, y); !strings.ContainsRune("│┃", l) || !strings.ContainsRune("│┃", rr) {
				t.Errorf("pane at %+v: line %d has sides %q %q: %q", r, y, l, rr, string(plain[y]))
				break
			}
		}
	}
}

func TestNoViewBeforeTheFirstSize(t *testing.T) {
	src := &fakeSource{f: newFixture(3)}
	m := New(src, Options{Styles: asciiStyles()})
	m, _ = step(t, m, snapshotMsg{src.at(4)})
	if v := m.View(); v != "" {
		t.Errorf("view before the size is known: %q", v)
	}
}

// TestNoColor checks that NO_COLOR leaves no escape sequence on a terminal
// that has colours, and that without it there are colours.
func TestNoColor(t *testing.T) {
	render := func(env ...string) string {
		out := termenv.NewOutput(io.Discard, termenv.WithTTY(true), termenv.WithEnvironment(environ(env)))
		r := lipgloss.NewRenderer(io.Discard)
		r.SetOutput(out)
		src := &fakeSource{f: newFixture(8)}
		m := New(src, Options{Styles: NewStyles(r)})
		m, _ = step(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
		for k := 0; k <= 80; k++ {
			m, _ = step(t, m, snapshotMsg{src.at(k)})
		}
		return m.View()
	}
	if v := render("TERM=xterm-256color"); !strings.Contains(v, "\x1b[") {
		t.Errorf("no colour on a 256-colour terminal")
	}
	if v := render("TERM=xterm-256color", "NO_COLOR=1"); strings.Contains(v, "\x1b[") {
		t.Errorf("escape sequences with NO_COLOR: %q", v[:min(len(v), 200)])
	}
}

// environ is a fixed environment for termenv.
type environ []string

func (e environ) Environ() []string { return e }

func (e environ) Getenv(k string) string {
	for _, kv := range e {
		if v, ok := strings.CutPrefix(kv, k+"="); ok {
			return v
		}
	}
	return ""
}

func TestMarketCapColumn(t *testing.T) {
	src := &fakeSource{f: newFixture(6)}
	caps := func(symbol string, price float64) (float64, bool) {
		if symbol == src.f.symbols[0] {
			return price * 1e9, true
		}
		return 0, false
	}
	for _, tt := range []struct {
		name string
		opts Options
		want bool
	}{
		{"with a universe", Options{Styles: asciiStyles(), MarketCap: caps}, true},
		{"without", Options{Styles: asciiStyles()}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := New(src, tt.opts)
			m, _ = step(t, m, tea.WindowSizeMsg{Width: 200, Height: 40})
			m, _ = step(t, m, snapshotMsg{src.at(20)})
			v := m.View()
			if got := strings.Contains(v, "MCAP"); got != tt.want {
				t.Fatalf("MCAP column shown = %v, want %v", got, tt.want)
			}
			if !tt.want {
				return
			}
			var last float64
			for _, s := range m.snap.Symbols {
				if s.Symbol == src.f.symbols[0] {
					last = s.Last
				}
			}
			if want := fmtCompact(last * 1e9); !strings.Contains(v, want) {
				t.Errorf("the market cap %s of %s is not shown", want, src.f.symbols[0])
			}
		})
	}
}

// TestTimesSayTheirZone renders every pane that shows a time of day in a
// zone an hour east of UTC: each says the zone beside its times, which
// are local.
func TestTimesSayTheirZone(t *testing.T) {
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = time.FixedZone("CET", 3600)

	m, src := newTestModel(t, 12, 160, 48, 120)
	lastTrade := src.snap.Tape[0].Time.Local().Format("15:04:05")
	if !strings.HasPrefix(lastTrade, "16:") {
		t.Fatalf("the newest trade is at %s local, want 16:…", lastTrade)
	}
	panes := map[string]string{
		"tape":   m.tape.View(false),
		"events": m.events.View(false, ""),
	}
	m = drive(t, m, []string{"enter"})
	d := splitLines(ansi.Strip(m.detail.View()))
	chartH, _, statsW := m.detail.layout()
	panes["price chart"] = strings.Join(d[:chartH], "\n")
	var candles, stats []string
	for _, l := range d[chartH:] {
		r := []rune(l)
		candles = append(candles, string(r[:len(r)-statsW]))
		stats = append(stats, string(r[len(r)-statsW:]))
	}
	panes["candles"] = strings.Join(candles, "\n")
	panes["stats"] = strings.Join(stats, "\n")
	m, _ = step(t, m, doneMsg{snap: src.at(121)})
	panes["summary"] = m.summary.View()

	clock := regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`)
	for name, view := range panes {
		view = ansi.Strip(view)
		if !clock.MatchString(view) {
			t.Errorf("%s shows no time of day:\n%s", name, view)
			continue
		}
		if !strings.Contains(view, "CET") {
			t.Errorf("%s does not say its times are CET:\n%s", name, view)
		}
		if strings.Contains(view, "15:01:") {
			t.Errorf("%s shows UTC times, not local:\n%s", name, view)
		}
	}
	if line := regexp.MustCompile(`last trade.*`).FindString(panes["stats"]); !strings.Contains(line, "CET") {
		t.Errorf("the last trade's time has no zone: %q", line)
	}
}
