package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"time"
)

// job is one action to run for one alert.
type job struct {
	action Action
	alert  Alert
}

// Payload is the alert an action is given: as JSON, the body of a
// webhook's POST and a command's standard input; as TRADETOP_ALERT_*
// variables, a command's environment.
type Payload struct {
	Rule    string `json:"rule"`
	Kind    Kind   `json:"kind"`
	Subject string `json:"subject"`
	Symbol  string `json:"symbol,omitempty"`
	// Partition is the partition of a lag_above or lag_verdict rule.
	Partition *int    `json:"partition,omitempty"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	// Time is the time of the snapshot the rule fired on.
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

func payload(al Alert) Payload {
	p := Payload{Rule: al.Rule, Kind: al.Kind, Subject: al.Subject, Symbol: al.Symbol,
		Value: al.Value, Threshold: al.Threshold, Time: al.Time, Message: al.Message}
	if al.Partition >= 0 {
		p.Partition = &al.Partition
	}
	return p
}

// env is the payload as variables of a command's environment.
func (p Payload) env() []string {
	part := ""
	if p.Partition != nil {
		part = strconv.Itoa(*p.Partition)
	}
	return []string{
		"TRADETOP_ALERT_RULE=" + p.Rule,
		"TRADETOP_ALERT_KIND=" + string(p.Kind),
		"TRADETOP_ALERT_SUBJECT=" + p.Subject,
		"TRADETOP_ALERT_SYMBOL=" + p.Symbol,
		"TRADETOP_ALERT_PARTITION=" + part,
		"TRADETOP_ALERT_VALUE=" + strconv.FormatFloat(p.Value, 'f', -1, 64),
		"TRADETOP_ALERT_THRESHOLD=" + strconv.FormatFloat(p.Threshold, 'f', -1, 64),
		"TRADETOP_ALERT_TIME=" + p.Time.UTC().Format(time.RFC3339Nano),
		"TRADETOP_ALERT_MESSAGE=" + p.Message,
	}
}

// Start runs the queued actions, one at a time, on a goroutine of their
// own, until Close.
func (a *Alerter) Start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started || a.closed {
		return
	}
	a.started = true
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go a.work(ctx)
}

// Close stops taking actions, lets those queued run for up to the grace
// period, then stops the one running and drops the rest. It is safe to
// call twice.
func (a *Alerter) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	close(a.queue)
	started := a.started
	a.mu.Unlock()
	if !started {
		for range a.queue {
			a.dropped.Add(1)
		}
		return
	}
	grace := time.NewTimer(a.cfg.Grace)
	defer grace.Stop()
	select {
	case <-a.done:
	case <-grace.C:
		a.cancel()
		<-a.done
	}
	a.cancel()
}

// enqueue queues j, or drops and counts it when the queue is full: the
// watcher never waits on an action.
func (a *Alerter) enqueue(j job) {
	a.mu.Lock()
	closed := a.closed
	if !closed {
		select {
		case a.queue <- j:
			a.mu.Unlock()
			return
		default:
		}
	}
	a.mu.Unlock()
	a.dropped.Add(1)
	why := "the queue is full"
	if closed {
		why = "tradetop is stopping"
	}
	a.cfg.Log.Warn("alert action dropped: "+why, "rule", j.alert.Rule, "action", j.action.String(), "queue", cap(a.queue))
}

// work runs the queued actions until the queue is closed and empty; once
// ctx is done it drops the rest.
func (a *Alerter) work(ctx context.Context) {
	defer close(a.done)
	for j := range a.queue {
		if ctx.Err() != nil {
			a.dropped.Add(1)
			continue
		}
		a.run(ctx, j)
	}
}

// run tries j until it works, its retries are spent, it fails for good,
// or ctx is done, waiting between tries from Backoff doubling to
// maxBackoff.
func (a *Alerter) run(ctx context.Context, j job) {
	wait := a.cfg.Backoff
	for try := 1; ; try++ {
		err := a.try(ctx, j)
		if err == nil {
			a.ok.Add(1)
			return
		}
		if _, final := errors.AsType[*permanentError](err); final || try > j.action.Retries || ctx.Err() != nil {
			a.failed.Add(1)
			a.cfg.Log.Error("alert action failed", "rule", j.alert.Rule, "action", j.action.String(), "tries", try, "error", err)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, maxBackoff)
	}
}

// permanentError is a failure a retry would meet again: a webhook that
// refuses the request.
type permanentError struct{ error }

func (e *permanentError) Unwrap() error { return e.error }

// maxOutput bounds how much of a failed command's output its error quotes.
const maxOutput = 512

// try runs j once, within its action's timeout.
func (a *Alerter) try(ctx context.Context, j job) error {
	ctx, cancel := context.WithTimeout(ctx, j.action.Timeout)
	defer cancel()
	p := payload(j.alert)
	body, err := json.Marshal(p)
	if err != nil {
		return &permanentError{err}
	}
	if len(j.action.Exec) > 0 {
		argv := j.action.Exec
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(slices.Clip(a.cfg.Env), p.env()...)
		cmd.Stdin = bytes.NewReader(body)
		var out tail
		cmd.Stdout, cmd.Stderr = &out, &out
		// A command whose children keep its output open is not waited
		// for past its timeout.
		cmd.WaitDelay = time.Second
		if err := cmd.Run(); err != nil {
			if msg := bytes.TrimSpace(out.b); len(msg) > 0 {
				return fmt.Errorf("%w: %s", err, oneLine(string(msg)))
			}
			return err
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.action.Webhook, bytes.NewReader(body))
	if err != nil {
		return &permanentError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			// The URL's path and query may hold a secret.
			ue.URL = redact(ue.URL)
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests:
		return &permanentError{fmt.Errorf("webhook answered %s", resp.Status)}
	default:
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
}

// String names the action for the log, without what a webhook's URL may
// hide in its path.
func (a Action) String() string {
	if len(a.Exec) > 0 {
		return "exec " + a.Exec[0]
	}
	return "webhook " + redact(a.Webhook)
}

// redact keeps a URL's scheme and host.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// tail keeps the last maxOutput bytes written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > maxOutput {
		t.b = append(t.b[:0], t.b[len(t.b)-maxOutput:]...)
	}
	return len(p), nil
}
