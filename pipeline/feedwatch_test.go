package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/trade"
)

// liveSource reports what a test sets and records subscriptions.
type liveSource struct {
	report feed.Report
	subs   []string
}

func (*liveSource) Name() string                                       { return "live" }
func (*liveSource) Run(context.Context, func(trade.Trade) error) error { return nil }
func (l *liveSource) Report() feed.Report                              { return l.report }
func (l *liveSource) Subscribe(s string) error                         { l.subs = append(l.subs, "+"+s); return nil }
func (l *liveSource) Unsubscribe(s string) error                       { l.subs = append(l.subs, "-"+s); return nil }
func (l *liveSource) Symbols() []string                                { return nil }

func TestFeedReportBecomesEvents(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	errs := errorLog{log: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
	src := &liveSource{report: feed.Report{Connected: true}}
	var w feedWatch

	if r := w.check(src, &errs); r == nil || !r.Connected || len(errs.events()) != 0 {
		t.Fatalf("a quiet report: %+v, events %v", r, errs.events())
	}
	src.report = feed.Report{Bad: 3, LastBad: "frame 7: price -1", Dropped: 5, Reconnects: 1, Connected: true,
		LastError: "connection reset", LastErrorTime: now}
	now = now.Add(time.Minute)
	w.check(src, &errs)
	var got []string
	for _, ev := range errs.events() {
		got = append(got, ev.Level.String()+" "+ev.Message)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"WARN 3 bad input(s) skipped; the latest: frame 7: price -1",
		"ERROR dropped 5 trades: the pipeline is behind the live feed",
		"WARN connection reset",
		"INFO reconnected (1 in all)",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("events lack %q:\n%s", want, all)
		}
	}
	if errs.total.Load() != 1 {
		t.Errorf("errors = %d, want 1 (the drop)", errs.total.Load())
	}
	// The same report again adds nothing.
	n := len(errs.events())
	now = now.Add(time.Minute)
	w.check(src, &errs)
	if len(errs.events()) != n {
		t.Errorf("an unchanged report added events: %v", errs.events()[n:])
	}
	// A source that keeps no report has none.
	if r := w.check(synthetic(t, 1, 1), &errs); r != nil {
		t.Errorf("synthetic source report = %+v, want nil", r)
	}
}

func TestSubscribeReachesTheSource(t *testing.T) {
	src := &liveSource{}
	p, err := New(Config{Source: src, Store: &downStore{}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.CanSubscribe() {
		t.Fatal("CanSubscribe = false for a Subscriber")
	}
	if err := p.Subscribe("AAPL"); err != nil {
		t.Fatal(err)
	}
	if err := p.Unsubscribe("MSFT"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(src.subs, ",") != "+AAPL,-MSFT" {
		t.Errorf("source saw %v", src.subs)
	}

	fixed, err := New(Config{Source: synthetic(t, 1, 1), Store: &downStore{}})
	if err != nil {
		t.Fatal(err)
	}
	if fixed.CanSubscribe() {
		t.Error("CanSubscribe = true for the synthetic feed")
	}
	if err := fixed.Subscribe("AAPL"); !errors.Is(err, ErrNoSubscriptions) {
		t.Errorf("Subscribe on a fixed source: %v", err)
	}
}
