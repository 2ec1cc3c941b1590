package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/term"

	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/tui"
)

// runUI runs p under the terminal UI until ctx is done, the source ends or
// the user quits; stop starts the drain. The UI stays up, saying it drains,
// until Run returns, and exits then, also when the pipeline fails. Without a
// terminal on standard output it runs nothing and says to use --no-ui.
func runUI(ctx context.Context, stop context.CancelFunc, o options, p *pipeline.Pipeline, u *feed.Universe, log *slog.Logger) (pipeline.Summary, error) {
	if !term.IsTerminal(os.Stdout.Fd()) {
		return pipeline.Summary{}, errors.New("the terminal UI needs a terminal on standard output; run with --no-ui")
	}
	type result struct {
		sum pipeline.Summary
		err error
	}
	// Ask the terminal for its background now: once the program reads the
	// keyboard, the answer would be lost in its input and the first frame
	// would wait for a timeout.
	lipgloss.HasDarkBackground()

	res := make(chan result, 1)
	done := make(chan struct{})
	uiCtx, stopUI := context.WithCancel(context.Background())
	defer stopUI()
	go func() {
		sum, err := p.Run(ctx)
		res <- result{sum, err}
		close(done)
	}()

	m := tui.New(p, tui.Options{Stop: stop, Abort: p.Abort, Done: done, Stopping: ctx.Done(), MarketCap: u.MarketCap})
	prog := tea.NewProgram(m,
		tea.WithAltScreen(),
		tea.WithMouseCellMotion(),
		// main handles SIGINT and SIGTERM: the first drains, the second
		// aborts. In the UI ctrl+c arrives as a key and does the same.
		tea.WithoutSignalHandler(),
		// A backstop: the UI ends when the pipeline has, even if the model
		// missed it.
		tea.WithContext(uiCtx),
	)
	exited := make(chan struct{})
	go func() {
		select {
		case <-exited:
		case <-done:
			// The model quits by itself once the pipeline is done; end the
			// program only if it has not within a moment.
			select {
			case <-exited:
			case <-time.After(2 * time.Second):
				stopUI()
			}
		}
	}()
	_, uiErr := prog.Run()
	close(exited)
	if uiErr != nil && !(errors.Is(uiErr, tea.ErrProgramKilled) && uiCtx.Err() != nil) {
		// The UI failed on its own (no terminal, say): drain the pipeline
		// and report why the UI went away.
		log.Error("terminal UI", "error", uiErr)
		stop()
		r := <-res
		return r.sum, errors.Join(fmt.Errorf("terminal UI: %w", uiErr), r.err)
	}
	stop()
	r := <-res
	return r.sum, r.err
}
