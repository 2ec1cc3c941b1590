package alert

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/state"
)

// Board is where alerts show to whoever watches the pipeline: its
// snapshots. *pipeline.Pipeline is one. ShowAlerts must not block: the
// watcher that judges the snapshots calls it.
type Board interface {
	// ShowAlerts puts firing, the alerts firing now, and events, those of
	// the alerts that fired or re-armed, into the snapshots to come.
	ShowAlerts(firing []state.Alert, events []state.Event)
}

// Config configures an Alerter.
type Config struct {
	// Rules are the rules judged, as Load returned them.
	Rules []Rule
	// Board shows what fires in the pipeline's snapshots. Default: nowhere.
	Board Board
	// Log gets a line for each alert that fires or re-arms, and for each
	// action that fails or is dropped. Default: none.
	Log *slog.Logger
	// Queue bounds the actions waiting to run; one more is dropped and
	// counted. Default 256.
	Queue int
	// Backoff is the wait before an action's first retry; it doubles for
	// each next one, up to 30s. Default 1s.
	Backoff time.Duration
	// Grace is how long Close lets the actions queued finish. Default 5s.
	Grace time.Duration
	// Env is the environment commands run in, besides the alert's own
	// variables. Default: this process's.
	Env []string
	// Client posts the webhooks; each try is bounded by its action's
	// timeout. Default: a client of the alerter's own.
	Client *http.Client
}

func (c Config) withDefaults() Config {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Queue <= 0 {
		c.Queue = 256
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 5 * time.Second
	}
	if c.Env == nil {
		c.Env = os.Environ()
	}
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	return c
}

// maxBackoff bounds the wait between two tries of an action.
const maxBackoff = 30 * time.Second

// Alerter judges rules on each snapshot the monitor's Watcher judges, and
// acts on what fires: a line in the log, the alert on the Board, a count
// for the metrics, and the rule's actions, queued for a goroutine of their
// own (Start). Judge is called from the watcher's goroutine only; Counts
// and ActionCounts from any.
type Alerter struct {
	cfg   Config
	eval  *Evaluator
	rules map[string]*Rule

	mu     sync.Mutex
	counts []RuleCount // by rule, in the order of the rules
	closed bool
	queue  chan job

	started    bool
	done       chan struct{} // closed when the actions' goroutine ends
	cancel     context.CancelFunc
	ok, failed atomic.Int64
	dropped    atomic.Int64
}

// RuleCount is what one rule did: how often it fired, and for how many
// subjects it fires now.
type RuleCount struct {
	Rule   string
	Fired  int64
	Firing int
}

// ActionCounts are the actions run: done, failed after their retries, and
// dropped because the queue was full or the alerter was closing.
type ActionCounts struct {
	Done, Failed, Dropped int64
}

// New returns an alerter of cfg's rules that has seen nothing yet. Its
// actions wait in the queue until Start.
func New(cfg Config) *Alerter {
	cfg = cfg.withDefaults()
	a := &Alerter{cfg: cfg, eval: NewEvaluator(cfg.Rules), rules: map[string]*Rule{},
		queue: make(chan job, cfg.Queue), done: make(chan struct{})}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		a.rules[r.Name] = r
		a.counts = append(a.counts, RuleCount{Rule: r.Name})
	}
	return a
}

// Judge judges snapshot s, which the monitor judged r, and acts on the
// alerts that fire or re-arm at it. It never waits on an action.
func (a *Alerter) Judge(s *state.Snapshot, r *monitor.Report) {
	alerts := a.eval.Observe(s, r)
	if len(alerts) == 0 {
		return
	}
	events := make([]state.Event, 0, len(alerts))
	fired := map[string]int64{}
	for _, al := range alerts {
		a.log(al)
		ev := state.Event{Time: al.Time, Level: slog.LevelInfo, Source: state.AlertSource, Message: al.Rule + ": " + al.Message}
		if al.Firing {
			ev.Level = slog.LevelWarn
			fired[al.Rule]++
			for _, act := range a.rules[al.Rule].Actions {
				a.enqueue(job{action: act, alert: al})
			}
		}
		events = append(events, ev)
	}
	firing := a.eval.Firing()
	a.mu.Lock()
	for i := range a.counts {
		c := &a.counts[i]
		c.Fired += fired[c.Rule]
		c.Firing = 0
		for _, f := range firing {
			if f.Rule == c.Rule {
				c.Firing++
			}
		}
	}
	a.mu.Unlock()
	if a.cfg.Board != nil {
		a.cfg.Board.ShowAlerts(firing, events)
	}
}

// log writes the alert's line: what fired or re-armed, for what, the value
// and the threshold it crossed (not "level", which is the line's own).
func (a *Alerter) log(al Alert) {
	attrs := make([]any, 0, 12)
	attrs = append(attrs, "rule", al.Rule, "kind", string(al.Kind))
	switch {
	case al.Symbol != "":
		attrs = append(attrs, "symbol", al.Symbol)
	case al.Partition >= 0:
		attrs = append(attrs, "partition", al.Partition)
	case al.Kind == StageDown:
		attrs = append(attrs, "stage", al.Subject)
	default:
		attrs = append(attrs, "subject", al.Subject)
	}
	attrs = append(attrs, "value", al.Value, "threshold", al.Threshold, "message", al.Message)
	if al.Firing {
		a.cfg.Log.Warn("alert fired", attrs...)
	} else {
		a.cfg.Log.Info("alert re-armed", attrs...)
	}
}

// Counts returns what each rule did, in the order of the rules.
func (a *Alerter) Counts() []RuleCount {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]RuleCount(nil), a.counts...)
}

// ActionCounts returns how many actions were done, failed and dropped.
func (a *Alerter) ActionCounts() ActionCounts {
	return ActionCounts{Done: a.ok.Load(), Failed: a.failed.Load(), Dropped: a.dropped.Load()}
}
