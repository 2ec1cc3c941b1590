// Command tradetop is top for a market-data pipeline: it runs trades from a
// feed through Kafka, windowed aggregation and a store, and shows the
// pipeline live in the terminal, or headless with --no-ui.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], osEnvironment(), os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitAborted = 3
)
