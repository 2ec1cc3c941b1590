package main

import (
	"context"
	"log/slog"

	"github.com/tradetop/tradetop/pipeline"
)

// runUI runs p under the terminal UI until ctx is done, the source ends or
// the user quits; stop starts the drain.
func runUI(ctx context.Context, stop context.CancelFunc, o options, p *pipeline.Pipeline, log *slog.Logger) (pipeline.Summary, error) {
	log.Warn("the terminal UI is not built yet; running headless")
	return runHeadless(ctx, o, p, log)
}
