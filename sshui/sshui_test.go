package sshui

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
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

// config is a Server's config over src with k's files.
func (k *keys) config(src *fakeSource) Config {
	return Config{
		HostKeyPath:    filepath.Join(k.dir, "ssh_host_ed25519_key"),
		AuthorizedKeys: k.authorized,
		Operators:      k.operators,
		Source:         src,
		StopService:    func() error { return nil },
	}
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
	s, err := New(k.config(src))
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
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
}
