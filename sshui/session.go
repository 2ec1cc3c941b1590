package sshui

import (
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	bm "github.com/charmbracelet/wish/bubbletea"

	"github.com/tradetop/tradetop/tui"
)

// uiMiddleware runs the terminal UI in the session.
func (s *Server) uiMiddleware() wish.Middleware {
	return bm.Middleware(s.newProgram)
}

// newProgram is the session's UI: a viewer of the pipeline, which only an
// operator may steer, drawn for the session's terminal.
func (s *Server) newProgram(sess ssh.Session) (tea.Model, []tea.ProgramOption) {
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
	return tui.New(s.cfg.Source, o), []tea.ProgramOption{
		tea.WithAltScreen(),
		tea.WithMouseCellMotion(),
		// The process's signals are not this session's business.
		tea.WithoutSignalHandler(),
	}
}
