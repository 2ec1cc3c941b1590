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
// until Run returns. It exits then when the user quit, a signal stopped the
// run or the pipeline failed; a run that ended by itself (its source ran
// out, --count or --duration reached) shows its summary until a key is
// pressed. Without a terminal on standard output it runs nothing and says
// to use --no-ui. browser looks inside the topic for the UI's topic
// browser.
func runUI(ctx context.Context, stop context.CancelFunc, o options, p *pipeline.Pipeline, u *feed.Universe, browser tui.Browser, log *slog.Logger) (pipeline.Summary, error) {
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
	done, interrupted := make(chan struct{}), make(chan struct{})
	uiCtx, stopUI := context.WithCancel(context.Background())
	defer stopUI()
	go func() {
		sum, err := p.Run(ctx)
		// ctx is cancelled by a signal or by the UI's q; its time limit
		// ends it with DeadlineExceeded, and a source that runs out leaves
		// it alone.
		if err != nil || errors.Is(ctx.Err(), context.Canceled) {
			close(interrupted)
		}
		res <- result{sum, err}
		close(done)
	}()

	m := tui.New(p, tui.Options{Stop: stop, Abort: p.Abort, Done: done, Stopping: ctx.Done(), Interrupted: interrupted, MarketCap: u.MarketCap, Browser: browser})
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
			return
		case <-done:
		}
		select {
		case <-interrupted:
		default:
			// The run ended by itself: the UI shows its summary until a
			// key is pressed.
			return
		}
		// The model quits by itself once an interrupted pipeline is done;
		// end the program only if it has not within a moment.
		select {
		case <-exited:
		case <-time.After(2 * time.Second):
			stopUI()
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
