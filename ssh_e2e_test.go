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
// says, which counts the sessions too; a key that is not listed, and a session without a terminal, are
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
	m.waitFor("stored trades", 30*time.Second, func(v map[string]float64) bool { return v["tradetop_trades_stored_total"] > 0 })
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

	// The service's goroutines without sessions, once the pipeline's
	// start-up is over: their range over a few seconds.
	before := m.quietGoroutines()
	t.Logf("go_goroutines before the sessions: %d..%d", before.low, before.high)

	mark := p.Mark()
	viewer := sshPane(t, dir, 200, 60, sshBin, sshArgs(viewerKey, "-tt")...)
	operator := sshPane(t, dir, 80, 24, sshBin, sshArgs(operatorKey, "-tt")...)
	viewer.waitFor("the viewer's dashboard", 20*time.Second, has("tradetop", "Symbols", "AAPL", "Sector volume", "Topic lag", "Tape", "Events", "read-only"))
	operator.waitFor("the operator's dashboard", 20*time.Second, has("tradetop", "Symbols", "AAPL"))
	m.waitFor("tradetop_ssh_sessions 2", 10*time.Second, func(v map[string]float64) bool { return v["tradetop_ssh_sessions"] == 2 })
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
	m.waitFor("the feed paused", 10*time.Second, func(v map[string]float64) bool { return v["tradetop_feed_paused"] == 1 })
	operator.waitFor("PAUSED on the operator's screen", 5*time.Second, has("PAUSED"))
	// Running again, so that the goroutines compare with a running feed's.
	operator.keys("p")
	m.waitFor("the feed resumed", 10*time.Second, func(v map[string]float64) bool { return v["tradetop_feed_paused"] == 0 })
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
	m.waitFor("tradetop_ssh_sessions 0", 30*time.Second, func(v map[string]float64) bool { return v["tradetop_ssh_sessions"] == 0 })
	// The sessions' goroutines end: the count comes back within the range
	// seen before them. The pipeline's own stay a dozen higher for up to
	// half a minute after the resume (Kafka connections, closed once idle
	// for 30 s), hence the wait. They wander by a few besides, so one or
	// two goroutines left would hide here; a session's dozen would not.
	// sshui's tests count exactly.
	m.waitFor(fmt.Sprintf("go_goroutines back to %d or fewer", before.high), time.Minute, func(v map[string]float64) bool {
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

// waitFor scrapes until ok says yes, for at most limit (stretched by
// TRADETOP_TEST_SLOW).
func (m *scrape) waitFor(what string, limit time.Duration, ok func(map[string]float64) bool) map[string]float64 {
	m.t.Helper()
	var v map[string]float64
	for deadline := time.Now().Add(e2e.Bound(m.t, limit)); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
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

// quietGoroutines is the range of go_goroutines over a few seconds once
// the pipeline's start-up is over. The Kafka connections its start opens
// (the topic's creation, the first metadata and offsets) close once idle
// for 30 s, the idle timeout of bus's transports, and its goroutines fall
// by a dozen then: it waits for that fall from the peak. Should none come
// within a minute and a half, it takes the range as it is.
func (m *scrape) quietGoroutines() span {
	m.t.Helper()
	peak := 0
	for deadline := time.Now().Add(e2e.Bound(m.t, 90*time.Second)); time.Now().Before(deadline); {
		s := m.goroutines(5)
		if s.high <= peak-10 {
			return m.goroutines(20)
		}
		peak = max(peak, s.high)
	}
	m.t.Logf("go_goroutines never fell from their peak of %d after the start", peak)
	return m.goroutines(20)
}

// goroutines is the range of go_goroutines over n scrapes, 150ms apart.
func (m *scrape) goroutines(n int) span {
	m.t.Helper()
	s := span{low: -1}
	for i := range n {
		if i > 0 {
			time.Sleep(150 * time.Millisecond)
		}
		g := int(m.waitFor("go_goroutines", 10*time.Second, func(v map[string]float64) bool { return v["go_goroutines"] > 0 })["go_goroutines"])
		if s.low < 0 || g < s.low {
			s.low = g
		}
		s.high = max(s.high, g)
	}
	return s
}
