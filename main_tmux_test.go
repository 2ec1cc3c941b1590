package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/datadir"
)

// TestTerminalUIUnderTmux runs the built binary in a tmux pane of 200x60, as
// a person would, and drives it with keys: the panes come up and their
// values move, down moves the selection, enter and esc open and close the
// detail, p pauses, / filters, s sorts, ? shows the help, and q drains and
// exits 0 with the summary in the log.
func TestTerminalUIUnderTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (.ci/run installs it): skipping the end-to-end test of the terminal UI")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tradetop")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	exitFile := filepath.Join(dir, "exit")

	// A server of its own, on a socket no other test or person uses.
	socket := fmt.Sprintf("tradetop-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	run := func(args ...string) (string, error) {
		cmd := exec.Command(tmux, append([]string{"-L", socket, "-f", "/dev/null"}, args...)...)
		cmd.Env = testEnv(dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = run("kill-server") })

	script := fmt.Sprintf("%s --data-dir %s --rate 500; echo EXIT=$? > %s", shellQuote(bin), shellQuote(data), shellQuote(exitFile))
	if out, err := run("new-session", "-d", "-s", "tt", "-x", "200", "-y", "60", "sh", "-c", script); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	capture := func() string {
		out, _ := run("capture-pane", "-p", "-t", "tt")
		return out
	}
	// waitFor polls the screen until ok says yes, for at most limit.
	waitFor := func(what string, limit time.Duration, ok func(screen string) bool) string {
		t.Helper()
		var screen string
		for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if screen = capture(); ok(screen) {
				return screen
			}
		}
		t.Fatalf("waited %v for %s; the screen:\n%s", limit, what, screen)
		return ""
	}
	has := func(words ...string) func(string) bool {
		return func(s string) bool {
			for _, w := range words {
				if !strings.Contains(s, w) {
					return false
				}
			}
			return true
		}
	}
	keys := func(k ...string) {
		t.Helper()
		if out, err := run(append([]string{"send-keys", "-t", "tt"}, k...)...); err != nil {
			t.Fatalf("tmux send-keys %v: %v\n%s", k, err, out)
		}
	}

	first := waitFor("every pane", 15*time.Second, has("tradetop", "● feed ok", "Symbols", "AAPL", "TREND",
		"Sector volume", "Topic lag", "Tape", "Events"))
	stored := regexp.MustCompile(`stored ([0-9,]+) of`)
	before := stored.FindString(first)
	waitFor("the stored count to move", 10*time.Second, func(s string) bool {
		now := stored.FindString(s)
		return now != "" && now != before
	})

	selected := regexp.MustCompile(`▸ (\S+)`)
	sym := selected.FindStringSubmatch(capture())
	if sym == nil {
		t.Fatalf("no selected symbol:\n%s", capture())
	}
	keys("Down")
	screen := waitFor("the selection to move", 5*time.Second, func(s string) bool {
		m := selected.FindStringSubmatch(s)
		return m != nil && m[1] != sym[1]
	})
	next := selected.FindStringSubmatch(screen)[1]

	keys("Enter")
	waitFor("the detail of "+next, 5*time.Second, has("─ "+next+" ·", "Candles", "Stats", "VWAP"))
	keys("Escape")
	waitFor("the dashboard again", 5*time.Second, has("Sector volume", "Topic lag"))

	keys("p")
	waitFor("the feed to pause", 5*time.Second, has("PAUSED", "feed paused"))
	keys("p")
	waitFor("the feed to resume", 5*time.Second, func(s string) bool { return !strings.Contains(s, "PAUSED") && strings.Contains(s, "feed ok") })

	keys("/")
	waitFor("the filter prompt", 5*time.Second, has("keep filter"))
	keys("N", "V")
	waitFor("the filtered table", 5*time.Second, has("1/50", "NVDA"))
	keys("Escape")
	waitFor("the filter cleared", 5*time.Second, func(s string) bool { return strings.Contains(s, "Symbols · 50 ") })

	keys("s")
	waitFor("the sort by change", 5*time.Second, has("sort chg% ↓"))

	keys("?")
	waitFor("the full help", 5*time.Second, has("Partition verdicts", "Stage health"))
	keys("?")
	waitFor("the help closed", 5*time.Second, has("Sector volume"))

	keys("q")
	var exit []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if exit, _ = os.ReadFile(exitFile); len(exit) > 0 {
			break
		}
	}
	if got := strings.TrimSpace(string(exit)); got != "EXIT=0" {
		t.Fatalf("exit %q, want EXIT=0; the screen:\n%s", got, capture())
	}
	log, err := os.ReadFile(filepath.Join(data, datadir.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`msg=summary .*stored_trades=[1-9]`).Match(log) {
		t.Errorf("no summary of stored trades in the log:\n%s", log)
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
