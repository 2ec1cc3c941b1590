package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/e2e/proc"
)

// TestSSHSessions serves the terminal UI over ssh from the built binary,
// run headless, to OpenSSH's own client in tmux panes of 200x60 and 80x24
// at once: both show the dashboard and take keys; the viewer's p is
// refused and the feed runs on, the operator's p pauses it, as /metrics
// says; a key that is not listed, and a session without a terminal, are
// turned away. Then both ssh clients are killed with SIGKILL, and the
// service's goroutines, clearly more while the sessions were open, come
// back to what they were before them.
func TestSSHSessions(t *testing.T) {
	sshBin := needTool(t, "ssh", "OpenSSH's client (Debian's openssh-client; .ci/run installs it)")
	keygen := needTool(t, "ssh-keygen", "OpenSSH's ssh-keygen (Debian's openssh-client)")
	needTool(t, "tmux", "tmux (.ci/run installs it)")
	bin := proc.Build(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	operatorKey, viewerKey, strangerKey := sshKey(t, keygen, dir, "operator"), sshKey(t, keygen, dir, "viewer"), sshKey(t, keygen, dir, "stranger")
	authorized := writeFile(t, dir, "authorized_keys", readFile(t, operatorKey+".pub")+readFile(t, viewerKey+".pub"))
	operators := writeFile(t, dir, "operators", readFile(t, operatorKey+".pub"))
	sshAddr, listen := freeAddr(t), freeAddr(t)
	p := proc.Start(t, "tradetop", bin, "--no-ui", "--data-dir", data, "--listen", listen, "--rate", "200", "--summary", "none",
		"--ssh", sshAddr, "--ssh-authorized-keys", authorized, "--ssh-operators", operators)

	m := &scrape{t: t, addr: listen, p: p}
	m.waitFor("stored trades", func(v map[string]float64) bool { return v["tradetop_trades_stored_total"] > 0 })
	// The host key is kept in the data directory: clients that trust it
	// there connect, checking it strictly.
	hostKey := filepath.Join(data, "ssh_host_ed25519_key")
	pub, err := exec.Command(keygen, "-y", "-f", hostKey).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -y -f %s: %v", hostKey, err)
	}
	host, port, _ := net.SplitHostPort(sshAddr)
	knownHosts := writeFile(t, dir, "known_hosts", fmt.Sprintf("[%s]:%s %s", host, port, pub))
	sshArgs := func(key string, more ...string) []string {
		return append([]string{"-F", "/dev/null", "-i", key, "-p", port, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + knownHosts, "-o", "LogLevel=ERROR"}, append(more, "x@"+host)...)
	}

	// Turned away: a key that is not listed, and a session without a
	// terminal.
	out, err := exec.Command(sshBin, sshArgs(strangerKey, "-T")...).CombinedOutput()
	if code := exitCode(err); code != 255 || !strings.Contains(string(out), "Permission denied (publickey)") {
		t.Errorf("a key that is not listed: exit %d, %q; want 255 and permission denied", code, out)
	}
	out, err = exec.Command(sshBin, sshArgs(viewerKey, "-T")...).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "tradetop: an interactive terminal is needed: ssh -t") {
		t.Errorf("a session without a terminal: exit %d, %q; want 1 and how to get one", code, out)
	}

	// The service's goroutines without sessions: their range over a few
	// seconds, once they have stopped growing as the pipeline starts up.
	before := m.steadyGoroutines()
	t.Logf("go_goroutines before the sessions: %d..%d", before.low, before.high)

	mark := p.Mark()
	viewer := sshPane(t, dir, 200, 60, sshBin, sshArgs(viewerKey, "-tt")...)
	operator := sshPane(t, dir, 80, 24, sshBin, sshArgs(operatorKey, "-tt")...)
	viewer.waitFor("the viewer's dashboard", 20*time.Second, has("tradetop", "Symbols", "AAPL", "Sector volume", "Topic lag", "Tape", "Events", "read-only"))
	operator.waitFor("the operator's dashboard", 20*time.Second, has("tradetop", "Symbols", "AAPL"))
	if screen := operator.capture(); strings.Contains(screen, "read-only") {
		t.Errorf("the operator's session says read-only:\n%s", screen)
	}
	for _, access := range []string{"read-only", "operator"} {
		if _, ok := p.WaitLine(mark, e2e.Bound(t, 10*time.Second), func(l proc.Line) bool {
			return l.Msg == "ssh session started" && l.Attrs["access"] == access && strings.HasPrefix(l.Attrs["key"], "SHA256:")
		}); !ok {
			t.Errorf("no log line of a %s session's start; the log:\n%s", access, p.Tail(20))
		}
	}

	// Keys work in both: the help opens and closes, j moves the selection.
	viewer.keys("?")
	viewer.waitFor("the help", 5*time.Second, has("Help", "leave; the service runs on"))
	viewer.keys("?")
	viewer.waitFor("the help closed", 5*time.Second, has("Sector volume"))
	selected := regexp.MustCompile(`▸ (\S+)`)
	first := selected.FindStringSubmatch(operator.capture())
	if first == nil {
		t.Fatalf("no selected symbol:\n%s", operator.capture())
	}
	operator.keys("j")
	operator.waitFor("the selection to move", 5*time.Second, func(screen string) bool {
		m := selected.FindStringSubmatch(screen)
		return m != nil && m[1] != first[1]
	})

	// The viewer may not pause; the operator may.
	viewer.keys("p")
	viewer.waitFor("the pause refused", 5*time.Second, has("read-only: pausing the feed refused"))
	if v := m.values(); v["tradetop_feed_paused"] != 0 {
		t.Fatalf("the viewer's p paused the feed: tradetop_feed_paused %v", v["tradetop_feed_paused"])
	}
	during := m.goroutines(5)
	t.Logf("go_goroutines with two sessions: %d..%d", during.low, during.high)
	operator.keys("p")
	m.waitFor("the feed paused", func(v map[string]float64) bool { return v["tradetop_feed_paused"] == 1 })
	operator.waitFor("PAUSED on the operator's screen", 5*time.Second, has("PAUSED"))
	// Running again, so that the goroutines compare with a running feed's.
	operator.keys("p")
	m.waitFor("the feed resumed", func(v map[string]float64) bool { return v["tradetop_feed_paused"] == 0 })
	if during.low <= before.high {
		t.Errorf("go_goroutines %d..%d with two sessions, not clearly more than the %d..%d before", during.low, during.high, before.low, before.high)
	}

	// Both clients die without a word.
	for _, pane := range []*tmuxSession{viewer, operator} {
		pid := pane.pid()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -KILL %d: %v", pid, err)
		}
		_, _ = pane.run("kill-server")
	}
	if _, ok := p.WaitLine(mark, e2e.Bound(t, 30*time.Second), func(l proc.Line) bool { return l.Msg == "ssh session ended" && l.Attrs["access"] == "read-only" }); !ok {
		t.Errorf("no log line of the viewer's session's end; the log:\n%s", p.Tail(20))
	}
	// The sessions' goroutines end: the count comes back within the range
	// seen before them. The pipeline's own wander by several (Kafka and
	// store connections come and go), so a goroutine or two left would
	// hide here; a session's dozen would not. sshui's tests count exactly.
	m.waitFor(fmt.Sprintf("go_goroutines back to %d or fewer", before.high), func(v map[string]float64) bool {
		return v["go_goroutines"] <= float64(before.high)
	})
	if p.Exited() {
		t.Fatalf("tradetop exited %d; its log:\n%s", p.ExitCode(), p.Tail(40))
	}
}

// needTool is the path of the program name, or skips the test saying what
// it is (fails it under CI).
func needTool(t *testing.T, name, what string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		e2e.Unavailable(t, name+" is not installed: "+what)
	}
	return path
}

// sshKey makes an ed25519 key pair without a passphrase, dir/name and
// dir/name.pub, and returns the private key's path.
func sshKey(t *testing.T, keygen, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return path
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exitCode is a finished command's exit status, -1 when it did not run.
func exitCode(err error) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	return -1
}

// sshPane runs the command (an ssh client) in a w×h pane on a tmux server
// of its own, which the test's end kills.
func sshPane(t *testing.T, dir string, w, h int, command string, args ...string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, tmux: needTool(t, "tmux", "tmux"), dir: dir,
		socket: fmt.Sprintf("tradetop-ssh-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { _, _ = s.run("kill-server") })
	script := "exec " + shellQuote(command)
	for _, a := range args {
		script += " " + shellQuote(a)
	}
	if out, err := s.run("new-session", "-d", "-s", "tt", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), "sh", "-c", script); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return s
}

// pid is the process ID of the program in the pane.
func (s *tmuxSession) pid() int {
	s.t.Helper()
	out, err := s.run("display-message", "-p", "-t", "tt", "#{pane_pid}")
	pid, perr := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || perr != nil {
		s.t.Fatalf("tmux pane_pid: %v %v: %q", err, perr, out)
	}
	return pid
}

// scrape reads a run's /metrics.
type scrape struct {
	t    *testing.T
	addr string
	p    *proc.Proc
}

// values are the samples of /metrics without labels, by name; empty when
// it cannot be read.
func (m *scrape) values() map[string]float64 {
	// A connection of its own each time: an idle one kept would be a
	// goroutine of the server's counted in go_goroutines.
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	v := map[string]float64{}
	resp, err := c.Get("http://" + m.addr + "/metrics")
	if err != nil {
		return v
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			v[name] = f
		}
	}
	return v
}

// waitFor scrapes until ok says yes, for a bounded while.
func (m *scrape) waitFor(what string, ok func(map[string]float64) bool) map[string]float64 {
	m.t.Helper()
	var v map[string]float64
	for deadline := time.Now().Add(e2e.Bound(m.t, 30*time.Second)); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if v = m.values(); ok(v) {
			return v
		}
		if m.p.Exited() {
			break
		}
	}
	m.t.Fatalf("no %s on /metrics; last go_goroutines %v, tradetop_feed_paused %v; the log:\n%s", what, v["go_goroutines"], v["tradetop_feed_paused"], m.p.Tail(30))
	return nil
}

// span is the range of a gauge over several scrapes.
type span struct{ low, high int }

// steadyGoroutines is the range of go_goroutines over the last two of
// successive spans of scrapes, once the second rose no higher than the
// first: the pipeline's start-up is over.
func (m *scrape) steadyGoroutines() span {
	m.t.Helper()
	last := m.goroutines(10)
	for deadline := time.Now().Add(e2e.Bound(m.t, time.Minute)); time.Now().Before(deadline); {
		next := m.goroutines(10)
		if next.high <= last.high {
			return span{min(last.low, next.low), max(last.high, next.high)}
		}
		last = next
	}
	m.t.Fatalf("go_goroutines still rising after a minute: %d..%d", last.low, last.high)
	return span{}
}

// goroutines is the range of go_goroutines over n scrapes, 150ms apart.
func (m *scrape) goroutines(n int) span {
	m.t.Helper()
	s := span{low: -1}
	for i := range n {
		if i > 0 {
			time.Sleep(150 * time.Millisecond)
		}
		g := int(m.waitFor("go_goroutines", func(v map[string]float64) bool { return v["go_goroutines"] > 0 })["go_goroutines"])
		if s.low < 0 || g < s.low {
			s.low = g
		}
		s.high = max(s.high, g)
	}
	return s
}
