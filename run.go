package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/tradetop/tradetop/alert"
	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/state"
)

// parsed answers --help and a bad command line alike for every command:
// the usage and the flags on stdout, exit 0; one line on stderr naming
// cmd's help, exit 2. done says the command ends there.
func parsed(err error, fs *flag.FlagSet, usage, cmd string, stdout, stderr io.Writer) (code int, done bool) {
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK, true
	case err != nil:
		fmt.Fprintf(stderr, "tradetop: %v (see %s --help)\n", err, cmd)
		return exitUsage, true
	}
	return 0, false
}

func run(args []string, env environment, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "attach" {
		return runAttach(args[1:], env, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "topic" {
		return runTopic(args[1:], env, stdout, stderr)
	}
	o, fs, warnings, err := parse(args, env)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "tradetop: %s\n", w)
	}
	if code, done := parsed(err, fs, usageHeading, "tradetop", stdout, stderr); done {
		return code
	}
	if o.version {
		fmt.Fprintf(stdout, "tradetop %s\n", version())
		return exitOK
	}
	// One process at a time may use the embedded store and broker: two
	// would interleave their windows in one store.
	if len(o.brokers) == 0 || len(o.cassandra) == 0 {
		lock, err := datadir.Acquire(o.dataDir)
		if err != nil {
			if _, inUse := errors.AsType[*datadir.InUseError](err); inUse {
				fmt.Fprintf(stderr, "tradetop: %v\n", err)
			} else {
				fmt.Fprintf(stderr, "tradetop: invalid value for flag -data-dir: %v\n", err)
			}
			return exitUsage
		}
		defer lock.Release()
	}
	// The terminal UI owns the terminal, so its log goes to a file.
	logOut := stderr
	if !o.noUI {
		f, err := openLog(o.dataDir)
		if err != nil {
			fmt.Fprintf(stderr, "tradetop: invalid value for flag -data-dir: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		logOut = f
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: parseLevel(o.logLevel)}))
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "tradetop: %v\n", err)
			return exitFailure
		}
		defer stop()
	}
	ls, err := listen(o)
	if err != nil {
		fmt.Fprintf(stderr, "tradetop: %v\n", err)
		return exitUsage
	}
	defer ls.Close()
	if err := execute(o, ls, log, stdout); err != nil {
		fmt.Fprintf(stderr, "tradetop: %v\n", err)
		if _, usage := errors.AsType[usageError](err); usage {
			return exitUsage
		}
		if errors.Is(err, pipeline.ErrAborted) {
			return exitAborted
		}
		return exitFailure
	}
	return exitOK
}

// version is the module version tradetop was built as, or the commit it
// was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		return "commit " + rev[:min(12, len(rev))] + modified + " (" + info.GoVersion + ")"
	}
	return v + " (" + info.GoVersion + ")"
}

// openLog opens the log file of the terminal UI in dir, for appending.
func openLog(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, datadir.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the log: %w", err)
	}
	return f, nil
}

// execute builds the pipeline from o and runs it headless or under the
// terminal UI until it is stopped and drained; meanwhile it serves
// metrics, probes and the control API on --listen and the terminal UI on
// --ssh, when they are open.
func execute(o options, ls listeners, log *slog.Logger, stdout io.Writer) error {
	// A first SIGINT or SIGTERM drains; a second one stops at once.
	soft, stop := context.WithCancel(context.Background())
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		soft, cancel = context.WithTimeout(soft, o.duration)
		defer cancel()
	}

	w, err := wire(soft, o, log)
	if err != nil {
		return err
	}
	defer w.Close()
	p, err := pipeline.New(w.config)
	if err != nil {
		return err
	}

	// One monitor judges the run for the status line, the metrics and the
	// alert rules, which it hands each snapshot it judged; what fires
	// reaches every view through the pipeline's next snapshots.
	var alerter *alert.Alerter
	var judged func(*state.Snapshot, *monitor.Report)
	if len(o.alertRules) > 0 {
		alerter = alert.New(alert.Config{Rules: o.alertRules, Board: p, Log: log, Env: commandEnv(os.Environ())})
		alerter.Start()
		defer alerter.Close()
		judged = alerter.Judge
		log.Info("judging alert rules", "file", o.alerts, "rules", len(o.alertRules))
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	var watch *monitor.Watcher
	if o.noUI || ls.http != nil || alerter != nil {
		watch = monitor.Watch(watchCtx, p.Snapshot, p.Published(), judged)
	}
	srv, err := serve(o, ls, p, watch, alerter, stop, w.universe.MarketCap, log)
	defer srv.Close()
	if err != nil {
		return err
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for range sigs {
			if n++; n == 1 {
				log.Info("stopping: draining (a second signal stops at once)", "drain_timeout", o.drainTimeout)
				stop()
			} else {
				p.Abort()
			}
		}
	}()

	switch role := pipeline.Role(o.role); role {
	case pipeline.RoleProcess:
		log.Info("starting", "role", role, "group", o.group, "store", w.config.StoreName)
	case pipeline.RoleIngest:
		log.Info("starting", "role", role, "source", w.config.Source.Name(), "rate", o.rate.String(), "group", o.group, "max_lag", p.Config().MaxLag)
	default:
		log.Info("starting", "role", role, "source", w.config.Source.Name(), "store", w.config.StoreName, "rate", o.rate.String())
	}
	var sum pipeline.Summary
	if o.noUI {
		sum, err = runHeadless(soft, o, p, watch, log)
	} else {
		dec := w.config.Values
		if dec == nil {
			// An ingest reads no trades, but shows them in the topic
			// browser.
			if dec, err = newDecoder(o); err != nil {
				return err
			}
		}
		browser := newTopicBrowser(w.config.Kafka, p.Brokers, dec)
		defer browser.Close()
		sum, err = runUI(soft, stop, o, p, w.universe, browser, log)
	}
	if _, notStarted := errors.AsType[*pipeline.StartError](err); notStarted {
		return err // a run that never started has nothing to sum up
	}
	switch o.summary {
	case "json":
		if err := json.NewEncoder(stdout).Encode(sum); err != nil {
			return fmt.Errorf("writing summary: %w", err)
		}
	case "text":
		log.Info("summary", "produced", sum.Produced, "consumed", sum.Consumed, "stored_trades", sum.StoredTrades,
			"candles", sum.Candles, "sector_rows", sum.SectorRows, "late", sum.Late, "duplicates", sum.Duplicates, "bad", sum.Bad,
			"errors", sum.Errors, "pauses", sum.Pauses, "paused_s", sum.PausedS, "duration_s", sum.DurationS, "throughput_tps", int64(sum.ThroughputTPS),
			"p50_ms", sum.LatencyMS.P50, "p99_ms", sum.LatencyMS.P99, "max_ms", sum.LatencyMS.Max)
		if !o.noUI {
			// The log is in a file: say on the terminal, once the UI has
			// given it back, what the run did.
			fmt.Fprintf(stdout, "tradetop: produced %d, stored %d, late %d, duplicates %d, dropped by the feed %d, bad %d, errors %d; "+
				"latency p50 %.0f ms, p99 %.0f ms; in %.1fs (log: %s)\n",
				sum.Produced, sum.StoredTrades, sum.Late, sum.Duplicates, sum.FeedDropped, sum.Bad, sum.Errors,
				sum.LatencyMS.P50, sum.LatencyMS.P99, sum.DurationS, filepath.Join(o.dataDir, datadir.LogFile))
		}
	}
	return err
}

// commandEnv is the environment alert commands run in: env without the
// passwords and tokens tradetop reads from it.
func commandEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if otherVariables[name] || name == finnhubKeyEnv {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// runHeadless runs p until ctx is done or its source ends, logging a status
// line every --status-interval.
func runHeadless(ctx context.Context, o options, p *pipeline.Pipeline, watch *monitor.Watcher, log *slog.Logger) (pipeline.Summary, error) {
	statusCtx, stopStatus := context.WithCancel(context.Background())
	defer stopStatus()
	go monitor.LogStatus(statusCtx, watch, log, o.statusInterval)
	return p.Run(ctx)
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
