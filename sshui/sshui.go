// Package sshui serves tradetop's terminal UI to ssh clients: each session
// gets a Bubble Tea program of its own over the pipeline that runs in this
// process, with its own window size and colour profile. Clients log in with
// a public key listed in an authorized_keys file; those whose key is also
// an operator's may steer the pipeline, everyone else watches read-only.
package sshui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tradetop/tradetop/tui"
)

// Config configures a Server. The key files are read once, by New: a change
// to them takes a restart.
type Config struct {
	// HostKeyPath: the server's ed25519 host key; generated once when
	// missing (0600) and kept, so clients' known_hosts stay valid.
	// Required.
	HostKeyPath string
	// AuthorizedKeys: an OpenSSH authorized_keys file: the public keys
	// that may connect. Required.
	AuthorizedKeys string
	// Operators: an authorized_keys file of the keys that may also steer
	// (pause, rate, subscribe, stop). "" = nobody; everyone else is
	// read-only. Each of its keys must be in AuthorizedKeys as well, so
	// that taking a key out of AuthorizedKeys shuts it out. Default "".
	Operators string
	// Source is the in-process pipeline (*pipeline.Pipeline implements
	// it). Required.
	Source tui.Source
	// StopService drains and stops the pipeline: offered to operators
	// only. Default: no such key.
	StopService func() error
	// MarketCap is passed to tui.Options. Default: no MCAP column.
	MarketCap func(symbol string, price float64) (float64, bool)
	// Log gets a line at each session's start and end. Default: nothing
	// is logged.
	Log *slog.Logger
}

// Server serves the terminal UI over ssh. Its methods may be called from
// any goroutine; Serve once.
type Server struct {
	cfg       Config
	log       *slog.Logger
	srv       *ssh.Server
	hostKey   gossh.Signer
	allowed   keySet
	operators keySet
	// readOnly says why a key that is not an operator's may not steer.
	readOnly string
	// keepAlive is how often a session's client is asked whether it is
	// there; a client that has not answered within three times as long
	// is cut off, as OpenSSH's ClientAliveInterval 15 and
	// ClientAliveCountMax 3 do. Tests shorten it.
	keepAlive time.Duration

	// stopping is closed when Serve's context is done: each session's
	// program quits, giving the client's terminal back as it was.
	stopping chan struct{}

	mu       sync.Mutex
	closed   bool                  // Serve is ending: no new connection or session
	conns    map[net.Conn]struct{} // connections open, handshaking or not
	sessions int                   // sessions open
	linked   sync.WaitGroup        // connections open
	open     sync.WaitGroup        // sessions open
}

// shutdownGrace is how long the sessions have, once Serve's context is
// done, to end cleanly before their connections are closed under them.
const shutdownGrace = 2 * time.Second

// New reads the key files (and makes the host key if missing). Errors are
// one line naming the file and what is wrong with it.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.HostKeyPath == "":
		return nil, errors.New("ssh: no host key path")
	case cfg.AuthorizedKeys == "":
		return nil, errors.New("ssh: no authorized keys file: name the public keys that may connect")
	case cfg.Source == nil:
		return nil, errors.New("ssh: no pipeline to show")
	}
	s := &Server{cfg: cfg, log: cfg.Log, keepAlive: 15 * time.Second, stopping: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.allowed, err = readKeys("ssh authorized keys", cfg.AuthorizedKeys); err != nil {
		return nil, err
	}
	s.readOnly = "no key may steer over ssh (--ssh-operators)"
	if cfg.Operators != "" {
		if s.operators, err = readKeys("ssh operator keys", cfg.Operators); err != nil {
			return nil, err
		}
		for k := range s.operators {
			if !s.allowed[k] {
				pub, _ := gossh.ParsePublicKey([]byte(k))
				return nil, fmt.Errorf("ssh operator keys %s: key %s is not in the authorized keys %s", cfg.Operators, fingerprint(pub), cfg.AuthorizedKeys)
			}
		}
		s.readOnly = "your key is not an operator's (--ssh-operators)"
	}
	if s.hostKey, err = hostKey(cfg.HostKeyPath); err != nil {
		return nil, err
	}
	s.srv, err = wish.NewServer(
		func(srv *ssh.Server) error { srv.AddHostKey(s.hostKey); return nil },
		wish.WithPublicKeyAuth(s.authorize),
		ssh.WrapConn(s.trackConn),
		func(srv *ssh.Server) error { srv.Handler = s.handle; return nil },
	)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	return s, nil
}

// Serve serves sessions on ln until ctx is done, then closes every
// session and connection and returns nil once they are gone. It returns
// the error that ends it otherwise: ln failing.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(ln) }()
	var err error
	select {
	case err = <-served:
		err = fmt.Errorf("serving ssh on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		_ = ln.Close()
		<-served
	}
	s.shut()
	return err
}

// shut refuses new connections and sessions, quits the sessions' programs
// and gives them a moment to end cleanly, then closes every connection and
// waits until all are gone.
func (s *Server) shut() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.stopping)
	ended := make(chan struct{})
	go func() {
		s.open.Wait()
		close(ended)
	}()
	grace := time.NewTimer(shutdownGrace)
	defer grace.Stop()
	select {
	case <-ended:
	case <-grace.C:
	}
	_ = s.srv.Close()
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	s.linked.Wait()
	<-ended
}

// Sessions is how many ssh sessions are open now.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// authorize lets in the keys of the authorized keys file.
func (s *Server) authorize(ctx ssh.Context, key ssh.PublicKey) bool {
	if s.allowed.has(key) {
		return true
	}
	s.log.Debug("ssh key refused", "user", ctx.User(), "remote", ctx.RemoteAddr().String(), "key", fingerprint(key))
	return false
}

// trackConn keeps each new connection until it is closed, so that Serve
// can close those still handshaking and wait for all of them. After Serve
// has begun to stop it refuses them.
func (s *Server) trackConn(_ ssh.Context, c net.Conn) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil // the server closes it
	}
	t := &trackedConn{Conn: c}
	t.forget = func() {
		s.mu.Lock()
		delete(s.conns, t)
		s.mu.Unlock()
		s.linked.Done()
	}
	s.conns[t] = struct{}{}
	s.linked.Add(1)
	return t
}

// trackedConn is a connection that tells the server when it is closed.
type trackedConn struct {
	net.Conn
	once   sync.Once
	forget func()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.forget)
	return err
}

// openSession counts a new session, unless the server is stopping.
func (s *Server) openSession() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sessions++
	s.open.Add(1)
	return true
}

func (s *Server) closeSession() {
	s.mu.Lock()
	s.sessions--
	s.mu.Unlock()
	s.open.Done()
}

// who are the log attributes that say whose session it is.
func (s *Server) who(sess ssh.Session) []any {
	access := "read-only"
	if s.operator(sess) {
		access = "operator"
	}
	return []any{"user", sess.User(), "remote", sess.RemoteAddr().String(), "key", fingerprint(sess.PublicKey()), "access", access}
}

// fingerprint is key's SHA256 fingerprint, as ssh-keygen -l shows it.
func fingerprint(key gossh.PublicKey) string {
	if key == nil {
		return "none"
	}
	return gossh.FingerprintSHA256(key)
}

// operator says whether the session's key may steer.
func (s *Server) operator(sess ssh.Session) bool {
	return s.operators.has(sess.PublicKey())
}
