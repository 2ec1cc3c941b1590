package tui

import (
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// A viewer (Options.Viewer) watches a pipeline that runs on without it: an
// attached terminal or an ssh session. Its q leaves, the pipeline runs on;
// stopping the pipeline is a key of its own, confirmed. Its controls may be
// refused (read-only), and its Source may reach the pipeline over a
// connection that can be lost (Linked).

// Linked is a Source whose pipeline runs elsewhere, reached over a
// connection that can be lost and come back. Link may be called from any
// goroutine and does not block.
type Linked interface {
	Link() Link
}

// Link is the state of a Linked source's connection.
type Link struct {
	// Connected says snapshots are arriving.
	Connected bool
	// Since is when the connection was made or lost; zero before the
	// first attempt ended.
	Since time.Time
	// Err says why the connection is down, "" while it is up.
	Err string
	// ReadOnly says why the pipeline refuses this viewer's controls (no
	// token, or a token it refused), "" when it takes them.
	ReadOnly string
}

// checkedPauser is a Source whose Pause and Resume can fail, such as one
// that asks a pipeline elsewhere: the UI says why and forgets the change.
type checkedPauser interface {
	SetPaused(paused bool) error
}

// Messages of a viewer.
type (
	// pausedMsg is a checkedPauser's answer to a pause or resume.
	pausedMsg struct {
		paused bool
		err    error
	}
	// stopServiceMsg is the answer to a request to stop the pipeline.
	stopServiceMsg struct{ err error }
)

// link is the source's connection, always up for a source in process.
func (m *Model) link() Link {
	if l, ok := m.src.(Linked); ok {
		return l.Link()
	}
	return Link{Connected: true}
}

// readOnly says why this UI's controls are refused, "" when they are not.
func (m *Model) readOnly() string {
	if m.opts.ReadOnly != "" {
		return m.opts.ReadOnly
	}
	return m.link().ReadOnly
}

// refuseControl notes that a control key is refused, and why, when this
// viewer may not steer; it reports whether it refused.
func (m *Model) refuseControl(what string) bool {
	why := m.readOnly()
	if why == "" {
		return false
	}
	msg := "read-only: " + what + " refused (" + why + ")"
	m.events.note(m.now(), msg)
	// The events may be folded away on a small screen: the footer says it
	// too, until the next key.
	m.flash = msg
	return true
}

// pauseCmd asks the source to pause or resume, off the program's goroutine.
func pauseCmd(src Source, paused bool) tea.Cmd {
	if c, ok := src.(checkedPauser); ok {
		return func() tea.Msg { return pausedMsg{paused: paused, err: c.SetPaused(paused)} }
	}
	if paused {
		return call(src.Pause)
	}
	return call(src.Resume)
}

// onPaused takes a checkedPauser's answer: on a refusal the pause or
// resume is forgotten and the events say why.
func (m Model) onPaused(msg pausedMsg) (tea.Model, tea.Cmd) {
	if msg.err == nil {
		return m, nil
	}
	m.pauseWant = nil
	verb := "resume"
	if msg.paused {
		verb = "pause"
	}
	m.events.note(m.now(), "could not "+verb+" the feed: "+msg.err.Error())
	return m, nil
}

// onStopService asks to confirm stopping the pipeline watched.
func (m Model) onStopService() (tea.Model, tea.Cmd) {
	if m.opts.StopService == nil || m.refuseControl("stopping the service") {
		return m, nil
	}
	m.confirming = true
	return m, nil
}

// onConfirmKey takes y to stop the pipeline watched; any other key keeps
// it running.
func (m Model) onConfirmKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	m.confirming = false
	if msg.String() != "y" && msg.String() != "Y" {
		m.events.note(m.now(), "the service runs on")
		return m, nil
	}
	m.events.note(m.now(), "asked the service to drain and stop")
	stop := m.opts.StopService
	return m, func() tea.Msg { return stopServiceMsg{err: stop()} }
}

// onServiceStopped notes how the request to stop the pipeline went.
func (m Model) onServiceStopped(msg stopServiceMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		m.events.note(m.now(), "the service was not stopped: "+msg.err.Error())
	}
	return m, nil
}

// confirmKeys are the footer's keys while stopping the service is
// confirmed.
var confirmKeys = []key.Binding{helpOnly("y", "drain and stop the service"), helpOnly("any other key", "keep it running")}

// linkBadge says, in the header, that a viewer's connection is lost, or
// that its controls are refused.
func (m *Model) linkBadge() string {
	l := m.link()
	if !l.Connected {
		msg := "CONNECTING…"
		if !l.Since.IsZero() {
			msg = "DISCONNECTED since " + l.Since.Local().Format("15:04:05 MST")
		}
		return m.st.Bad.Render(msg)
	}
	if m.readOnly() != "" {
		return m.st.Idle.Render("read-only")
	}
	return ""
}
