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

	mu       sync.Mutex
	closed   bool                  // Serve is ending: no new connection or session
	conns    map[net.Conn]struct{} // connections open, handshaking or not
	sessions int                   // sessions open
	running  sync.WaitGroup        // connections and sessions open
}

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
	s := &Server{cfg: cfg, log: cfg.Log, keepAlive: 15 * time.Second, conns: map[net.Conn]struct{}{}}
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
				return nil, fmt.Errorf("ssh operator keys %s: key %s is not in the authorized keys %s", cfg.Operators, gossh.FingerprintSHA256(pub), cfg.AuthorizedKeys)
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
		wish.WithMiddleware(s.uiMiddleware(), s.logSession, s.needTerminal, s.trackSession),
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

// shut refuses new connections and sessions, closes those open and waits
// until they are gone.
func (s *Server) shut() {
	s.mu.Lock()
	s.closed = true
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	_ = s.srv.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	s.running.Wait()
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
	s.log.Debug("ssh key refused", "user", ctx.User(), "remote", ctx.RemoteAddr().String(), "key", gossh.FingerprintSHA256(key))
	return false
}

// trackConn keeps each new connection until it is closed, so that Serve
// can close those still handshaking and wait for all of them.
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
		s.running.Done()
	}
	s.conns[t] = struct{}{}
	s.running.Add(1)
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

// trackSession counts the session while it is open.
func (s *Server) trackSession(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.sessions++
		s.running.Add(1)
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.sessions--
			s.mu.Unlock()
			s.running.Done()
		}()
		next(sess)
	}
}

// needTerminal ends a session without a terminal, saying how to get one.
func (s *Server) needTerminal(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if _, _, ok := sess.Pty(); ok {
			next(sess)
			return
		}
		s.log.Info("ssh session without a terminal refused", s.who(sess)...)
		fmt.Fprintln(sess.Stderr(), "tradetop: an interactive terminal is needed: ssh -t (or -tt when ssh's own input is not a terminal)")
		_ = sess.Exit(1)
	}
}

// logSession logs the session's start and end.
func (s *Server) logSession(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		who := s.who(sess)
		start := time.Now()
		s.log.Info("ssh session", who...)
		defer func() {
			s.log.Info("ssh session ended", append(who, "duration", time.Since(start).Round(time.Millisecond))...)
		}()
		next(sess)
	}
}

// who are the log attributes that say whose session it is.
func (s *Server) who(sess ssh.Session) []any {
	access := "read-only"
	if s.operator(sess) {
		access = "operator"
	}
	return []any{"user", sess.User(), "remote", sess.RemoteAddr().String(), "key", gossh.FingerprintSHA256(sess.PublicKey()), "access", access}
}

// operator says whether the session's key may steer.
func (s *Server) operator(sess ssh.Session) bool {
	return s.operators.has(sess.PublicKey())
}
