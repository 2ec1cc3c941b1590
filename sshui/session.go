package sshui

import (
	"context"
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/ssh"
	bm "github.com/charmbracelet/wish/bubbletea"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tradetop/tradetop/tui"
)

// What a session's end is put down to, in the log. A client that closed
// the session and one whose connection broke look alike: the connection
// is torn down after its sessions.
const (
	endQuit     = "quit"
	endGone     = "client went away"
	endSilent   = "client stopped answering"
	endStopping = "server stopping"
)

// handle serves one session, on a goroutine of its own.
func (s *Server) handle(sess ssh.Session) {
	if !s.openSession() {
		fmt.Fprintln(sess.Stderr(), "tradetop: the server is shutting down")
		_ = sess.Exit(1)
		return
	}
	defer s.closeSession()
	who := s.who(sess)
	if _, _, ok := sess.Pty(); !ok {
		s.log.Info("ssh session without a terminal refused", who...)
		fmt.Fprintln(sess.Stderr(), "tradetop: an interactive terminal is needed: ssh -t (or -tt when ssh's own input is not a terminal)")
		_ = sess.Exit(1)
		return
	}
	s.log.Info("ssh session started", who...)
	start := time.Now()
	why, err := s.runUI(sess)
	attrs := append(who, "end", why, "duration", time.Since(start).Round(time.Millisecond))
	if err != nil {
		attrs = append(attrs, "error", err)
	}
	s.log.Info("ssh session ended", attrs...)
	// The exit status goes now, before the session counts as closed: Serve
	// closes the connections once none is open.
	if why == endStopping {
		fmt.Fprintln(sess, "tradetop: the server is shutting down")
		_ = sess.Exit(1)
		return
	}
	_ = sess.Exit(0)
}

// runUI runs the session's UI until the user quits, the client closes the
// session or goes away, or the server stops, and says which.
//
// It runs the program itself rather than through wish's bubbletea
// middleware, whose loop forwarding window changes spins on the closed
// channel once a client closes the session but keeps the connection (a
// multiplexing client does when one of its ssh processes is killed): the
// program then never ends and a core is kept busy.
func (s *Server) runUI(sess ssh.Session) (why string, err error) {
	_, windows, _ := sess.Pty()
	ctx, cancel := context.WithCancel(sess.Context())
	p := tea.NewProgram(s.newModel(sess), append(bm.MakeOptions(sess),
		tea.WithAltScreen(),
		tea.WithMouseCellMotion(),
		// The process's signals are not this session's business.
		tea.WithoutSignalHandler(),
		// A client that has gone gets no goodbye.
		tea.WithContext(ctx),
	)...)
	followed := make(chan string, 1)
	go func() { followed <- s.follow(ctx, cancel, p, sess, windows) }()
	_, err = p.Run()
	cancel()
	switch why = <-followed; {
	case why != "":
		err = nil
	case err == nil:
		why = endQuit
	case sess.Context().Err() != nil:
		why, err = endGone, nil
	default:
		why = "failed"
	}
	return why, err
}

// newModel is the session's UI: a viewer of the pipeline, which only an
// operator may steer, drawn for the session's terminal.
func (s *Server) newModel(sess ssh.Session) tui.Model {
	o := tui.Options{
		Viewer:    true,
		Styles:    tui.NewStyles(bm.MakeRenderer(sess)),
		MarketCap: s.cfg.MarketCap,
	}
	if s.operator(sess) {
		o.StopService = s.cfg.StopService
	} else {
		o.ReadOnly = s.readOnly
	}
	return tui.New(s.cfg.Source, o)
}

// follow hands the program the session's window changes, quits it when
// the server stops, and asks the client now and then whether it is still
// there, closing the connection when it has not answered three times
// running: a client cut off without a word (a network that drops
// everything) is otherwise noticed only when TCP gives up, after many
// minutes. It returns when ctx is done, or why it cancelled ctx.
func (s *Server) follow(ctx context.Context, cancel context.CancelFunc, p *tea.Program, sess ssh.Session, windows <-chan ssh.Window) string {
	conn, _ := sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn)
	tick := time.NewTicker(s.keepAlive)
	defer tick.Stop()
	stopping := s.stopping
	var answer chan error // the keepalive awaiting its answer, if any
	unanswered := 0
	why := ""
	for {
		select {
		case <-ctx.Done():
			return why
		case <-stopping:
			// A clean quit gives the client's terminal back as it was.
			stopping, why = nil, endStopping
			p.Quit()
		case w, ok := <-windows:
			if !ok {
				// The session's channel is closed.
				cancel()
				return endGone
			}
			p.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
		case err := <-answer:
			answer, unanswered = nil, 0
			if err != nil {
				cancel()
				return endGone
			}
		case <-tick.C:
			switch {
			case conn == nil:
			case answer == nil:
				answer = make(chan error, 1)
				go func(answer chan<- error) {
					_, _, err := conn.SendRequest("keepalive@openssh.com", true, nil)
					answer <- err
				}(answer)
			case unanswered < 2:
				unanswered++
			default:
				_ = conn.Close()
				cancel()
				return endSilent
			}
		}
	}
}
