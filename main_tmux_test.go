package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/e2e/proc"
)

// tmuxSession is the built binary running in a tmux pane of its own, on a
// tmux server of its own, driven and read as a person would.
type tmuxSession struct {
	t        *testing.T
	tmux     string
	socket   string
	dir      string
	data     string // the binary's --data-dir
	exitFile string // gets EXIT=<status> when the binary exits
}

// startTmux runs the binary, built once for all tests, with args in a w×h
// tmux pane. It skips the test without tmux.
func startTmux(t *testing.T, w, h int, args ...string) *tmuxSession {
	t.Helper()
	bin := proc.Build(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := startTmuxIn(t, dir, w, h, append([]string{bin, "--data-dir", data}, args...)...)
	s.data = data
	return s
}

// startTmuxIn runs the command argv in a w×h tmux pane on a tmux server of
// its own, with dir for its files. It skips the test without tmux.
func startTmuxIn(t *testing.T, dir string, w, h int, argv ...string) *tmuxSession {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		e2e.Unavailable(t, "tmux is not installed (.ci/run installs it): no end-to-end test of the terminal UI")
	}
	s := &tmuxSession{t: t, tmux: tmux, dir: dir, exitFile: filepath.Join(dir, "exit"),
		// A server of its own, on a socket no other test or person uses.
		socket: fmt.Sprintf("tradetop-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { _, _ = s.run("kill-server") })

	var quoted []string
	for _, a := range argv {
		quoted = append(quoted, shellQuote(a))
	}
	// The pane stays after the command exits, showing what it printed
	// once it gave the terminal back, until the server is killed.
	script := fmt.Sprintf("%s; echo EXIT=$? > %s; read _", strings.Join(quoted, " "), shellQuote(s.exitFile))
	if out, err := s.run("new-session", "-d", "-s", "tt", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "sh", "-c", script); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return s
}

func (s *tmuxSession) run(args ...string) (string, error) {
	cmd := exec.Command(s.tmux, append([]string{"-L", s.socket, "-f", "/dev/null"}, args...)...)
	cmd.Env = testEnv(s.dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// capture is the pane's text.
func (s *tmuxSession) capture() string {
	out, _ := s.run("capture-pane", "-p", "-t", "tt")
	return out
}

// waitFor polls the screen until ok says yes, for at most limit.
func (s *tmuxSession) waitFor(what string, limit time.Duration, ok func(screen string) bool) string {
	s.t.Helper()
	var screen string
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if screen = s.capture(); ok(screen) {
			return screen
		}
	}
	s.t.Fatalf("waited %v for %s; the screen:\n%s", limit, what, screen)
	return ""
}

// keys types keys, each argument as tmux send-keys takes it: a key name
// (Down, Enter) or text, which arrives as one burst.
func (s *tmuxSession) keys(k ...string) {
	s.t.Helper()
	if out, err := s.run(append([]string{"send-keys", "-t", "tt"}, k...)...); err != nil {
		s.t.Fatalf("tmux send-keys %v: %v\n%s", k, err, out)
	}
}

// exit is the binary's exit line (EXIT=0) once it has exited within
// limit, or "".
func (s *tmuxSession) exit(limit time.Duration) string {
	var exit []byte
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if exit, _ = os.ReadFile(s.exitFile); len(exit) > 0 {
			break
		}
	}
	return strings.TrimSpace(string(exit))
}

func has(words ...string) func(string) bool {
	return func(s string) bool {
		for _, w := range words {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	}
}

// TestTerminalUIUnderTmux runs the built binary in a tmux pane of 200x60, as
// a person would, and drives it with keys: the panes come up and their
// values move, down moves the selection and jjj typed in one burst three
// rows more, enter and esc open and close the detail, p pauses, tab
// focuses the events, which scroll, show one whole and search, / filters,
// s sorts, ? shows the help, and q drains and exits 0 with the summary in
// the log.
func TestTerminalUIUnderTmux(t *testing.T) {
	s := startTmux(t, 200, 60, "--rate", "500")

	first := s.waitFor("every pane", 15*time.Second, has("tradetop", "● feed ok", "Symbols", "AAPL", "TREND",
		"Sector volume", "Topic lag", "Tape", "Events", "rate 500/s"))
	stored := regexp.MustCompile(`stored ([0-9,]+) of`)
	before := stored.FindString(first)
	s.waitFor("the stored count to move", 10*time.Second, func(screen string) bool {
		now := stored.FindString(screen)
		return now != "" && now != before
	})

	// Every symbol of the universe has traded, so rows no longer appear
	// between those the keys move over.
	all := regexp.MustCompile(`Symbols · 1–\d+ of 50 · `)
	s.waitFor("all 50 symbols", 15*time.Second, all.MatchString)

	selected := regexp.MustCompile(`▸ (\S+)`)
	sym := selected.FindStringSubmatch(s.capture())
	if sym == nil {
		t.Fatalf("no selected symbol:\n%s", s.capture())
	}
	s.keys("Down")
	screen := s.waitFor("the selection to move", 5*time.Second, func(screen string) bool {
		m := selected.FindStringSubmatch(screen)
		return m != nil && m[1] != sym[1]
	})
	next := selected.FindStringSubmatch(screen)[1]

	// Three keys typed in one burst move three rows.
	rows := symbolRows(screen)
	i := slices.Index(rows, next)
	if i < 0 || i+3 >= len(rows) {
		t.Fatalf("%s is not in the table %v, three rows from its end", next, rows)
	}
	s.keys("jjj")
	s.waitFor("jjj to move three rows to "+rows[i+3], 5*time.Second, func(screen string) bool {
		m := selected.FindStringSubmatch(screen)
		return m != nil && m[1] == rows[i+3]
	})
	s.keys("kkk")
	s.waitFor("kkk to move back to "+next, 5*time.Second, func(screen string) bool {
		m := selected.FindStringSubmatch(screen)
		return m != nil && m[1] == next
	})

	s.keys("Enter")
	s.waitFor("the detail of "+next, 5*time.Second, has("─ "+next+" ·", "Candles", "Stats", "VWAP", "candles · live"))
	s.keys("Escape")
	s.waitFor("the dashboard again", 5*time.Second, has("Sector volume", "Topic lag"))

	s.keys("p")
	s.waitFor("the feed to pause", 5*time.Second, has("PAUSED", "feed paused"))
	s.keys("p")
	s.waitFor("the feed to resume", 5*time.Second, func(screen string) bool {
		return !strings.Contains(screen, "PAUSED") && strings.Contains(screen, "feed ok") && strings.Contains(screen, "feed resumed")
	})

	// The events: tab to them, move to the older note, show it whole,
	// back, search, clear.
	for range 4 {
		s.keys("Tab")
	}
	s.waitFor("the events focused", 5*time.Second, has("┏━ Events", "select • enter show whole • / search"))
	s.keys("Down")
	s.waitFor("the second event selected", 5*time.Second, has("▸ ", "feed paused"))
	s.keys("Enter")
	whole := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ INFO tradetop`)
	screen = s.waitFor("the event shown whole", 5*time.Second, func(screen string) bool {
		return whole.MatchString(screen) && strings.Contains(screen, "event 2 of")
	})
	if !strings.Contains(screen, "feed paused; the pipeline drains what was produced") {
		t.Errorf("the event shown whole is not the pause:\n%s", screen)
	}
	s.keys("Enter")
	s.waitFor("the events listed again", 5*time.Second, func(screen string) bool { return !whole.MatchString(screen) })
	s.keys("/")
	s.waitFor("the events' search", 5*time.Second, has("keep search"))
	s.keys("resumed", "Enter")
	screen = s.waitFor("the events searched", 5*time.Second, has("search “resumed”", " match "))
	if strings.Contains(screen, "INFO  tradetop feed paused") {
		t.Errorf("the search for “resumed” shows the pause:\n%s", screen)
	}
	s.keys("Escape")
	s.waitFor("the search cleared", 5*time.Second, func(screen string) bool { return !strings.Contains(screen, "search “resumed”") })
	s.keys("Tab")
	s.waitFor("the symbols focused", 5*time.Second, has("┏━ Symbols"))

	s.keys("/")
	s.waitFor("the filter prompt", 5*time.Second, has("keep filter"))
	s.keys("N", "V")
	s.waitFor("the filtered table", 5*time.Second, has("1/50", "NVDA"))
	s.keys("Escape")
	s.waitFor("the filter cleared", 5*time.Second, func(screen string) bool {
		return all.MatchString(screen) && !strings.Contains(screen, "filter “")
	})

	s.keys("s")
	s.waitFor("the sort by change", 5*time.Second, has("sort chg% ↓"))

	s.keys("?")
	s.waitFor("the full help", 5*time.Second, has("Partition verdicts", "Stage health"))
	s.keys("?")
	s.waitFor("the help closed", 5*time.Second, has("Sector volume"))

	s.keys("q")
	if got := s.exit(30 * time.Second); got != "EXIT=0" {
		t.Fatalf("exit %q, want EXIT=0; the screen:\n%s", got, s.capture())
	}
	log, err := os.ReadFile(filepath.Join(s.data, datadir.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`msg=summary .*stored_trades=[1-9]`).Match(log) {
		t.Errorf("no summary of stored trades in the log:\n%s", log)
	}
}

// symbolRows are the symbols of the table on screen, top to bottom.
func symbolRows(screen string) []string {
	row := regexp.MustCompile(`^[┃│] [▸ ] (\S+) `)
	var out []string
	for _, l := range strings.Split(screen, "\n") {
		if m := row.FindStringSubmatch(l); m != nil && m[1] != "SYMBOL" {
			out = append(out, m[1])
		}
	}
	return out
}

// TestTerminalUIUnderTmuxSmall runs the built binary in an 80x24 pane with
// --count: the header cuts no word, the footer names ? and q, the help
// scrolls to every key the synthetic feed takes (+ and -, not a and x),
// + speeds the feed up, and when the count is reached the UI shows the
// run's summary, stays until a key is pressed and exits 0.
func TestTerminalUIUnderTmuxSmall(t *testing.T) {
	const count = 20000
	s := startTmux(t, 80, 24, "--rate", "1000", "--count", fmt.Sprint(count))

	screen := s.waitFor("the dashboard", 15*time.Second, has("tradetop", "Symbols", "AAPL", "rate 1,000/s"))
	lines := strings.Split(screen, "\n")
	if strings.Contains(lines[0], "…") {
		t.Errorf("the header cuts a word at 80x24: %q", lines[0])
	}
	if !strings.Contains(screen, "? help • q quit") {
		t.Errorf("the footer does not say ? help • q quit:\n%s", screen)
	}

	// The help, paged to its end: every key the source takes.
	s.keys("?")
	seen := s.waitFor("the help", 5*time.Second, has("Help", "lines 1–"))
	for range 10 {
		if strings.Contains(seen, "? or esc closes this help") {
			break
		}
		last := s.capture()
		s.keys("PageDown")
		seen += s.waitFor("the help to scroll", 5*time.Second, func(screen string) bool { return screen != last })
	}
	words := strings.Join(strings.Fields(seen), " ")
	for _, want := range []string{"↑/k up", "↓/j down", "pgup page up", "pgdn page down", "g/home first", "G/end last",
		"tab next pane", "shift+tab previous pane", "enter detail", "/ filter", "esc clear filter", "s sort", "S reverse sort",
		"select an event", "search the events", "w candle window", "[ earlier candles", "] later candles",
		"G/end live candles", "p pause feed", "+ faster feed", "- slower feed", "? help", "q quit", "? or esc closes this help"} {
		if !strings.Contains(words, want) {
			t.Errorf("the help at 80x24 never shows %q", want)
		}
	}
	for _, unwanted := range []string{"subscribe a symbol"} {
		if strings.Contains(words, unwanted) {
			t.Errorf("the help of the synthetic feed shows %q", unwanted)
		}
	}
	s.keys("Escape")
	s.waitFor("the help closed", 5*time.Second, has("Symbols"))

	// Faster, then as fast as it goes: the count is reached.
	s.keys("+")
	s.waitFor("the faster rate", 5*time.Second, has("rate 10,000/s"))
	s.keys("+")
	s.waitFor("the rate at max", 5*time.Second, has("rate max"))

	screen = s.waitFor("the run's summary", 60*time.Second, has("Run ended", "The feed ended by itself", "any key exits"))
	for _, want := range []string{"produced          20,000 trades", "stored            20,000 trades", "late", "duplicates",
		"dropped by feed   0", "errors", "latency p50", "latency p99", "latency max"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the summary lacks %q:\n%s", want, screen)
		}
	}
	// It stays, past the moment the UI used to vanish, until a key.
	if got := s.exit(3 * time.Second); got != "" {
		t.Fatalf("the UI exited (%s) without a key; the screen:\n%s", got, s.capture())
	}
	if !strings.Contains(s.capture(), "Run ended") {
		t.Fatalf("the summary went away without a key:\n%s", s.capture())
	}
	s.keys("x")
	if got := s.exit(10 * time.Second); got != "EXIT=0" {
		t.Fatalf("exit %q after a key, want EXIT=0; the screen:\n%s", got, s.capture())
	}
	// Back on the normal screen, one line says what the run did.
	screen = s.waitFor("the summary line on the terminal", 5*time.Second, has("tradetop: produced 20000, stored 20000"))
	line := strings.ReplaceAll(screen, "\n", "") // it wraps at 80 columns
	if !regexp.MustCompile(`late \d+, duplicates \d+, dropped by the feed \d+, bad \d+, errors \d+; latency p50 \d+ ms, p99 \d+ ms`).MatchString(line) {
		t.Errorf("the summary line lacks the counts:\n%s", screen)
	}
}

// testEnv is the environment of the tmux server and the program: the
// test's, with the XDG directories in dir and no tmux of the caller's.
func testEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); {
		case k == "TMUX", k == "TMUX_PANE", k == "NO_COLOR", strings.HasPrefix(k, "XDG_"), strings.HasPrefix(k, envPrefix):
			continue
		}
		env = append(env, kv)
	}
	for _, x := range []string{"DATA_HOME", "CONFIG_HOME", "CACHE_HOME", "STATE_HOME", "RUNTIME_DIR"} {
		d := filepath.Join(dir, "xdg", strings.ToLower(x))
		_ = os.MkdirAll(d, 0o700)
		env = append(env, "XDG_"+x+"="+d)
	}
	return append(env, "TERM=xterm-256color")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
