package sshui

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/e2e/proc"
)

// keys is a test's client keys and the files that list them.
type keys struct {
	dir                        string
	operator, viewer, stranger gossh.Signer
	authorized, operators      string // files
}

func newKeys(t *testing.T) *keys {
	t.Helper()
	k := &keys{dir: t.TempDir()}
	k.operator, k.viewer, k.stranger = newSigner(t), newSigner(t), newSigner(t)
	k.authorized = k.write(t, "authorized_keys", "# who may watch\n\n"+authorizedLine(k.operator)+authorizedLine(k.viewer))
	k.operators = k.write(t, "operators", authorizedLine(k.operator))
	return k
}

func (k *keys) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newSigner(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func authorizedLine(s gossh.Signer) string {
	return string(gossh.MarshalAuthorizedKey(s.PublicKey()))
}

// config is a Server's config over src with k's files, logging to log.
func (k *keys) config(src *fakeSource, log *e2e.Buffer) Config {
	return Config{
		HostKeyPath:    filepath.Join(k.dir, "ssh_host_ed25519_key"),
		AuthorizedKeys: k.authorized,
		Operators:      k.operators,
		Source:         src,
		StopService:    func() error { return nil },
		Log:            slog.New(slog.NewTextHandler(log, nil)),
	}
}

// logged is the lines of log whose message is msg.
func logged(log *e2e.Buffer, msg string) []proc.Line {
	var out []proc.Line
	for _, l := range proc.ParseLog(log.String()) {
		if l.Msg == msg {
			out = append(out, l)
		}
	}
	return out
}

// serving is a Server serving on a port of 127.0.0.1 until the test ends.
type serving struct {
	*Server
	addr   string
	cancel context.CancelFunc
	served chan error
}

func serve(t *testing.T, s *Server) *serving {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sv := &serving{Server: s, addr: ln.Addr().String(), cancel: cancel, served: make(chan error, 1)}
	go func() { sv.served <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { sv.stop(t) })
	return sv
}

// stop ends Serve and returns what it returned.
func (sv *serving) stop(t *testing.T) error {
	t.Helper()
	sv.cancel()
	select {
	case err := <-sv.served:
		sv.served <- err // for a second stop
		return err
	case <-time.After(e2e.Bound(t, 10*time.Second)):
		t.Fatal("Serve did not return after its context was done")
		return nil
	}
}

// dial makes an ssh connection to sv with key, over a TCP connection the
// test can cut.
func dial(sv *serving, key gossh.Signer) (net.Conn, *gossh.Client, error) {
	return dialAuth(sv, gossh.PublicKeys(key))
}

func dialAuth(sv *serving, auth ...gossh.AuthMethod) (net.Conn, *gossh.Client, error) {
	conn, err := net.Dial("tcp", sv.addr)
	if err != nil {
		return nil, nil, err
	}
	cfg := &gossh.ClientConfig{User: "x", Auth: auth, HostKeyCallback: gossh.InsecureIgnoreHostKey()}
	c, chans, reqs, err := gossh.NewClientConn(conn, sv.addr, cfg)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, gossh.NewClient(c, chans, reqs), nil
}

// terminal is an ssh session with a pty, read as a terminal would be:
// it answers the queries a terminal answers (background colour, device
// attributes) and keeps everything else written to it.
type terminal struct {
	t      *testing.T
	name   string
	conn   net.Conn
	client *gossh.Client
	sess   *gossh.Session
	in     *sessionInput

	mu      sync.Mutex
	out     []byte
	sizes   []sizeAt      // the terminal's size from each offset of out on
	changed chan struct{} // closed and replaced when out grows or ends
	ended   bool
}

// sizeAt is the terminal's size from offset on.
type sizeAt struct{ offset, w, h int }

type sessionInput struct {
	mu sync.Mutex
	w  interface{ Write([]byte) (int, error) }
}

func (in *sessionInput) Write(b []byte) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.w.Write(b)
}

// open starts a w×h terminal session on sv with key.
func open(t *testing.T, sv *serving, name string, key gossh.Signer, w, h int) *terminal {
	t.Helper()
	conn, client, err := dial(sv, key)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { client.Close() })
	return openOn(t, name, conn, client, w, h)
}

func openOn(t *testing.T, name string, conn net.Conn, client *gossh.Client, w, h int) *terminal {
	t.Helper()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatalf("%s: new session: %v", name, err)
	}
	if err := sess.RequestPty("xterm-256color", h, w, gossh.TerminalModes{}); err != nil {
		t.Fatalf("%s: pty: %v", name, err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, name: name, conn: conn, client: client, sess: sess, in: &sessionInput{w: stdin}, changed: make(chan struct{}),
		sizes: []sizeAt{{0, w, h}}}
	if err := sess.Shell(); err != nil {
		t.Fatalf("%s: shell: %v", name, err)
	}
	go term.read(stdout)
	return term
}

// Terminal queries and a dark xterm's answers.
var answers = []struct{ query, answer string }{
	{ansi.RequestBackgroundColor, "\x1b]11;rgb:0000/0000/0000\x07"},
	{ansi.RequestPrimaryDeviceAttributes, "\x1b[?62;22c"},
}

func (term *terminal) read(r interface{ Read([]byte) (int, error) }) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		term.mu.Lock()
		term.out = append(term.out, buf[:n]...)
		for _, a := range answers {
			if bytes.Contains(buf[:n], []byte(a.query)) {
				_, _ = term.in.Write([]byte(a.answer))
			}
		}
		if err != nil {
			term.ended = true
		}
		close(term.changed)
		term.changed = make(chan struct{})
		term.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// text is what the terminal shows.
func (term *terminal) text() string {
	return term.screen().String()
}

// screen is the terminal, everything written to it so far interpreted.
func (term *terminal) screen() *screen {
	term.mu.Lock()
	defer term.mu.Unlock()
	sz := term.sizes[0]
	sc := newScreen(sz.w, sz.h)
	for i, next := range term.sizes {
		if i > 0 {
			sc.resize(next.w, next.h)
		}
		end := len(term.out)
		if i+1 < len(term.sizes) {
			end = term.sizes[i+1].offset
		}
		sc.write(string(term.out[next.offset:end]))
	}
	return sc
}

// resize tells the server the terminal is now w×h.
func (term *terminal) resize(w, h int) {
	term.t.Helper()
	term.mu.Lock()
	term.sizes = append(term.sizes, sizeAt{len(term.out), w, h})
	term.mu.Unlock()
	if err := term.sess.WindowChange(h, w); err != nil {
		term.t.Fatalf("%s: window change: %v", term.name, err)
	}
}

// raw is everything written to the terminal.
func (term *terminal) raw() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return string(term.out)
}

// waitFor waits until the text written to the terminal satisfies ok.
func (term *terminal) waitFor(what string, ok func(text string) bool) string {
	term.t.Helper()
	deadline := time.NewTimer(e2e.Bound(term.t, 10*time.Second))
	defer deadline.Stop()
	for {
		term.mu.Lock()
		changed, ended := term.changed, term.ended
		term.mu.Unlock()
		if text := term.text(); ok(text) {
			return text
		}
		if ended {
			term.t.Fatalf("%s: the session ended before %s; the screen:\n%s", term.name, what, term.text())
		}
		select {
		case <-changed:
		case <-deadline.C:
			term.t.Fatalf("%s: no %s; the screen:\n%s", term.name, what, term.text())
		}
	}
}

// waitEnd waits until the session's output has ended.
func (term *terminal) waitEnd() {
	term.t.Helper()
	term.waitFor("end of the session", func(string) bool {
		term.mu.Lock()
		defer term.mu.Unlock()
		return term.ended
	})
}

func (term *terminal) keys(s string) {
	term.t.Helper()
	if _, err := term.in.Write([]byte(s)); err != nil {
		term.t.Fatalf("%s: typing %q: %v", term.name, s, err)
	}
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

// filled says whether the screen's text reaches its right edge and its
// bottom row: the UI was laid out for the terminal's size.
func filled(w, h int) func(string) bool {
	return func(text string) bool {
		lines := strings.Split(text, "\n")
		widest := 0
		for _, l := range lines {
			widest = max(widest, ansi.StringWidth(l))
		}
		return widest == w && len(lines) == h && lines[h-1] != ""
	}
}

// quiet waits until no goroutine of ssh, Charm's or tradetop's runs but
// the caller's, as every earlier test must leave it, and returns how many
// goroutines run then: the count a test's own must come back to.
func quiet(t *testing.T) int {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(e2e.Bound(t, 10*time.Second)); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
		left = left[:0]
		for _, g := range stacks[1:] { // the first is the caller's
			for _, pkg := range []string{"golang.org/x/crypto/ssh.", "github.com/charmbracelet/", "github.com/tradetop/tradetop/"} {
				if strings.Contains(g, pkg) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return runtime.NumGoroutine()
		}
	}
	t.Fatalf("goroutines left by an earlier test:\n%s", strings.Join(left, "\n\n"))
	return 0
}

// settle waits until the process runs want goroutines, or fails the test
// with their stacks.
func settle(t *testing.T, what string, want int) {
	t.Helper()
	n := 0
	for deadline := time.Now().Add(e2e.Bound(t, 10*time.Second)); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n == want {
			return
		}
	}
	var stacks strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
	t.Fatalf("%s: %d goroutines, want %d as before:\n%s", what, n, want, stacks.String())
}

// waitSessions waits until s has n sessions open.
func waitSessions(t *testing.T, s *Server, n int) {
	t.Helper()
	for deadline := time.Now().Add(e2e.Bound(t, 10*time.Second)); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s.Sessions() == n {
			return
		}
	}
	t.Fatalf("%d sessions open, want %d", s.Sessions(), n)
}

// TestSessions serves two sessions at once, of 80x24 and 200x60: each is
// drawn for its own size, an operator's p pauses the feed, a viewer's is
// refused and says why, and when both clients vanish without a word (their
// TCP connections closed under them) every goroutine of theirs ends.
func TestSessions(t *testing.T) {
	k := newKeys(t)
	src := newFakeSource()
	var log e2e.Buffer
	s, err := New(k.config(src, &log))
	if err != nil {
		t.Fatal(err)
	}
	before := quiet(t)
	sv := serve(t, s)
	// Serve's goroutine and the accept loop's.
	serving := before + 2

	if _, _, err := dial(sv, k.stranger); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("a key that is not listed: %v, want it refused", err)
	}
	if _, _, err := dialAuth(sv, gossh.Password("x"), gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
		return []string{"x"}, nil
	})); err == nil {
		t.Fatal("a password or keyboard-interactive login was let in")
	}
	settle(t, "after the refused logins", serving)

	// The viewer's screen is the large one: at 80x24 the events, where a
	// refusal is noted, do not show.
	viewer := open(t, sv, "viewer", k.viewer, 200, 60)
	operator := open(t, sv, "operator", k.operator, 80, 24)
	viewer.waitFor("the dashboard at 200x60", has("tradetop", "Symbols", "AAPL", "NVDA", "Sector volume", "Topic lag", "Tape", "Events"))
	operator.waitFor("the dashboard at 80x24", has("tradetop", "Symbols", "AAPL", "NVDA", "Sector volume", "Topic lag"))
	viewer.waitFor("the screen filled at 200x60", filled(200, 60))
	operator.waitFor("the screen filled at 80x24", filled(80, 24))
	if n := s.Sessions(); n != 2 {
		t.Errorf("Sessions() = %d with two open", n)
	}
	during := runtime.NumGoroutine()
	t.Logf("goroutines: %d serving, %d with two sessions (client's and server's sides both in this process)", serving, during)
	if during <= serving {
		t.Errorf("%d goroutines with two sessions open, no more than the %d before", during, serving)
	}

	viewer.waitFor("read-only in the header", has("read-only"))
	if strings.Contains(operator.text(), "read-only") {
		t.Errorf("the operator's session says read-only:\n%s", operator.text())
	}

	viewer.keys("p")
	viewer.waitFor("p refused", has("pausing the feed refused", "not an operator's"))
	if p, r, _ := src.controls(); p != 0 || r != 0 {
		t.Fatalf("the viewer's p paused %d and resumed %d times", p, r)
	}
	operator.keys("p")
	operator.waitFor("the feed paused", has("PAUSED"))
	if p, _, _ := src.controls(); p != 1 {
		t.Fatalf("the operator's p paused %d times, want 1", p)
	}

	operator.resize(100, 30)
	operator.waitFor("the screen filled at 100x30", filled(100, 30))

	for _, term := range []*terminal{viewer, operator} {
		term.conn.Close()
	}
	waitSessions(t, s, 0)
	settle(t, "after both clients vanished", serving)

	if err := sv.stop(t); err != nil {
		t.Fatalf("Serve returned %v after its context was done", err)
	}
	settle(t, "after Serve returned", before)

	// A line at each session's start and end: whose key, and what it may do.
	access := map[string]string{
		gossh.FingerprintSHA256(k.operator.PublicKey()): "operator",
		gossh.FingerprintSHA256(k.viewer.PublicKey()):   "read-only",
	}
	for _, msg := range []string{"ssh session started", "ssh session ended"} {
		lines := logged(&log, msg)
		if len(lines) != 2 {
			t.Errorf("%d lines %q, want 2:\n%s", len(lines), msg, log.String())
		}
		for _, l := range lines {
			if want, ok := access[l.Attrs["key"]]; !ok || l.Attrs["access"] != want || l.Attrs["user"] != "x" || !strings.HasPrefix(l.Attrs["remote"], "127.0.0.1:") {
				t.Errorf("line %q: want the user, the remote address, a client's key and its access", l.Raw)
			}
			if msg == "ssh session ended" && l.Attrs["end"] != endGone {
				t.Errorf("line %q: want end=%q", l.Raw, endGone)
			}
		}
	}
}

// TestSessionClosedOnAConnectionKept: a client that closes its session but
// keeps the connection, as a multiplexing client (ssh -O, ControlMaster)
// does when one of its ssh processes is killed, leaves nothing of the
// session behind.
func TestSessionClosedOnAConnectionKept(t *testing.T) {
	quiet(t)
	k := newKeys(t)
	s, err := New(k.config(newFakeSource(), &e2e.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	sv := serve(t, s)
	conn, client, err := dial(sv, k.viewer)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// A round trip: the server's side of the connection is all there.
	if _, _, err := client.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatal(err)
	}
	connected := runtime.NumGoroutine()
	term := openOn(t, "viewer", conn, client, 120, 40)
	term.waitFor("the dashboard", has("tradetop", "AAPL"))
	if err := term.sess.Close(); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, s, 0)
	settle(t, "after the session was closed", connected)
}

// TestSessionWithoutATerminal: a session without a pty is told in one line
// how to get one, and exits 1.
func TestSessionWithoutATerminal(t *testing.T) {
	k := newKeys(t)
	s, err := New(k.config(newFakeSource(), &e2e.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	sv := serve(t, s)
	_, client, err := dial(sv, k.viewer)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	err = sess.Run("")
	var exit *gossh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 1 {
		t.Errorf("exit %v, want status 1", err)
	}
	want := "tradetop: an interactive terminal is needed: ssh -t (or -tt when ssh's own input is not a terminal)\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("stderr %q and stdout %q, want stderr %q alone", stderr.String(), stdout.String(), want)
	}
	waitSessions(t, s, 0)
}

// TestStopEndsSessionsCleanly: when Serve's context is done, each session's
// program quits and gives the client's terminal back as it found it, the
// client is told why (and exits 1), and Serve returns nil once everything of the
// sessions is gone.
func TestStopEndsSessionsCleanly(t *testing.T) {
	k := newKeys(t)
	var log e2e.Buffer
	s, err := New(k.config(newFakeSource(), &log))
	if err != nil {
		t.Fatal(err)
	}
	before := quiet(t)
	sv := serve(t, s)
	terms := []*terminal{open(t, sv, "viewer", k.viewer, 120, 40), open(t, sv, "operator", k.operator, 90, 30)}
	for _, term := range terms {
		term.waitFor("the dashboard", has("tradetop", "AAPL"))
	}
	if err := sv.stop(t); err != nil {
		t.Fatalf("Serve returned %v after its context was done", err)
	}
	for _, term := range terms {
		term.waitEnd()
		raw := term.raw()
		for _, mode := range []string{"\x1b[?1049l", "\x1b[?1002l", "\x1b[?25h"} {
			if !strings.Contains(raw, mode) {
				t.Errorf("%s: the terminal was not given back: no %q", term.name, mode)
			}
		}
		if sc := term.screen(); sc.altShowing || !strings.Contains(sc.String(), "tradetop: the server is shutting down") {
			t.Errorf("%s: the screen after the session (alternate screen %v):\n%s", term.name, sc.altShowing, sc.String())
		}
		var exit *gossh.ExitError
		if err := term.sess.Wait(); !errors.As(err, &exit) || exit.ExitStatus() != 1 {
			t.Errorf("%s: the session ended with %v, want exit status 1", term.name, err)
		}
		term.client.Close()
	}
	for _, l := range logged(&log, "ssh session ended") {
		if l.Attrs["end"] != endStopping {
			t.Errorf("line %q: want end=%q", l.Raw, endStopping)
		}
	}
	settle(t, "after Serve returned", before)
}

// blackhole stands between a client and a server, forwarding both ways
// until it is cut; then it drops everything both ways and closes neither
// side, as a network that has gone silent does.
type blackhole struct {
	ln   net.Listener
	cut  chan struct{}
	once sync.Once
	done sync.WaitGroup
	mu   sync.Mutex
	open []net.Conn
}

func newBlackhole(t *testing.T, to string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, cut: make(chan struct{})}
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			b.mu.Lock()
			b.open = append(b.open, c, s)
			b.mu.Unlock()
			b.done.Add(2)
			go b.pipe(s, c)
			go b.pipe(c, s)
		}
	}()
	return b
}

func (b *blackhole) pipe(to, from net.Conn) {
	defer b.done.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			return
		}
		select {
		case <-b.cut:
		default:
			if _, err := to.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

// cutOff drops everything from now on.
func (b *blackhole) cutOff() { b.once.Do(func() { close(b.cut) }) }

// close ends the blackhole, its connections with it.
func (b *blackhole) close() {
	b.cutOff()
	b.ln.Close()
	b.mu.Lock()
	for _, c := range b.open {
		c.Close()
	}
	b.mu.Unlock()
	b.done.Wait()
}

// TestSilentClientIsCutOff: a client whose network goes silent, neither
// answering nor closing, is cut off once it has not answered three
// keepalives, and its session leaves nothing behind.
func TestSilentClientIsCutOff(t *testing.T) {
	k := newKeys(t)
	var log e2e.Buffer
	s, err := New(k.config(newFakeSource(), &log))
	if err != nil {
		t.Fatal(err)
	}
	// Short enough for a test, long enough that a client under the race
	// detector answers in time: the session must outlive a few rounds.
	s.keepAlive = 100 * time.Millisecond
	before := quiet(t)
	sv := serve(t, s)
	hole := newBlackhole(t, sv.addr)
	defer hole.close()
	conn, client, err := dialAuth(&serving{addr: hole.ln.Addr().String()}, gossh.PublicKeys(k.viewer))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	term := openOn(t, "viewer", conn, client, 120, 40)
	term.waitFor("the dashboard", has("tradetop", "AAPL"))
	// Five keepalive rounds answered: the session stays.
	time.Sleep(5 * s.keepAlive)
	if s.Sessions() != 1 {
		t.Fatalf("an answering client was cut off:\n%s", log.String())
	}

	hole.cutOff()
	waitSessions(t, s, 0)
	if ended := logged(&log, "ssh session ended"); len(ended) != 1 || ended[0].Attrs["end"] != endSilent {
		t.Errorf("want one session ended with end=%q:\n%s", endSilent, log.String())
	}
	s.mu.Lock()
	conns := len(s.conns)
	s.mu.Unlock()
	if conns != 0 {
		t.Errorf("%d connections still open on the server", conns)
	}
	client.Close()
	hole.close()
	if err := sv.stop(t); err != nil {
		t.Fatal(err)
	}
	settle(t, "after the silent client was cut off", before)
}

// TestHostKeyIsKept: the host key is made once, private to its owner, and
// served from then on: a client that trusted it keeps trusting it.
func TestHostKeyIsKept(t *testing.T) {
	k := newKeys(t)
	cfg := k.config(newFakeSource(), &e2e.Buffer{})
	if _, err := os.Stat(cfg.HostKeyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a host key before the first New: %v", err)
	}
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(cfg.HostKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %v, want 0600", fi.Mode().Perm())
	}
	made, _ := os.ReadFile(cfg.HostKeyPath)
	second, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := os.ReadFile(cfg.HostKeyPath)
	if !bytes.Equal(made, kept) {
		t.Error("the second New rewrote the host key")
	}
	fp := gossh.FingerprintSHA256(first.hostKey.PublicKey())
	if got := gossh.FingerprintSHA256(second.hostKey.PublicKey()); got != fp {
		t.Fatalf("host key %s, then %s", fp, got)
	}
	if matches, _ := filepath.Glob(cfg.HostKeyPath + ".*"); len(matches) != 0 {
		t.Errorf("left beside the host key: %v", matches)
	}

	// A client that knows the key from the first server connects to the
	// second.
	sv := serve(t, second)
	conn, err := net.Dial("tcp", sv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, _, _, err := gossh.NewClientConn(conn, sv.addr, &gossh.ClientConfig{
		User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(k.viewer)},
		HostKeyCallback: gossh.FixedHostKey(first.hostKey.PublicKey()),
	})
	if err != nil {
		t.Fatalf("a client that trusted the first key: %v", err)
	}
	c.Close()
}

// TestKeyFileErrors: each thing wrong with a key file is said on one line
// that names the file.
func TestKeyFileErrors(t *testing.T) {
	k := newKeys(t)
	encrypted, err := gossh.MarshalPrivateKeyWithPassphrase(ed25519.NewKeyFromSeed(make([]byte, 32)), "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	stranger := authorizedLine(k.stranger)
	cases := []struct {
		name string
		edit func(c *Config)
		want []string
	}{
		{"no authorized keys file", func(c *Config) { c.AuthorizedKeys = filepath.Join(k.dir, "missing") }, []string{"authorized keys", "missing", "no such file"}},
		{"authorized keys unreadable", func(c *Config) { c.AuthorizedKeys = k.dir }, []string{"authorized keys", k.dir, "is a directory"}},
		{"no key in it", func(c *Config) { c.AuthorizedKeys = k.write(t, "empty", "# nobody yet\n\n") }, []string{"authorized keys", "empty", "no public key in it"}},
		{"not a key", func(c *Config) {
			c.AuthorizedKeys = k.write(t, "garbled", authorizedLine(k.viewer)+"\nssh-ed25519 AAAAnotbase64!\n")
		}, []string{"authorized keys", "garbled", "line 3 is not a public key"}},
		{"a private key", func(c *Config) {
			b, _ := os.ReadFile(c.HostKeyPath)
			if len(b) == 0 {
				if _, err := New(*c); err != nil {
					t.Fatal(err)
				}
				b, _ = os.ReadFile(c.HostKeyPath)
			}
			c.AuthorizedKeys = k.write(t, "private", string(b))
		}, []string{"authorized keys", "private", "line 1 is part of a private key"}},
		{"options", func(c *Config) { c.AuthorizedKeys = k.write(t, "options", `from="10.0.0.0/8" `+stranger) }, []string{"authorized keys", "options", "line 1 has options", `from="10.0.0.0/8"`}},
		{"operators not a key", func(c *Config) { c.Operators = k.write(t, "ops", "hello\n") }, []string{"operator keys", "ops", "line 1 is not a public key"}},
		{"operator not authorized", func(c *Config) { c.Operators = k.write(t, "ops2", stranger) }, []string{"operator keys", "ops2", gossh.FingerprintSHA256(k.stranger.PublicKey()), "not in the authorized keys", k.authorized}},
		{"host key not a key", func(c *Config) { c.HostKeyPath = k.write(t, "host", "not a key\n") }, []string{"host key", "host", "not a private key"}},
		{"host key encrypted", func(c *Config) { c.HostKeyPath = k.write(t, "host_enc", string(pem.EncodeToMemory(encrypted))) }, []string{"host key", "host_enc", "encrypted"}},
		{"host key directory missing", func(c *Config) { c.HostKeyPath = filepath.Join(k.dir, "nodir", "key") }, []string{"host key", "nodir", "no such file"}},
		{"no authorized keys", func(c *Config) { c.AuthorizedKeys = "" }, []string{"authorized keys"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k.config(newFakeSource(), &e2e.Buffer{})
			tc.edit(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error on more than one line: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
		})
	}
}
