package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestOutageIsOneLineEachWay(t *testing.T) {
	var logs bytes.Buffer
	now := pinned
	errs := &errorLog{log: slog.New(slog.NewTextHandler(&logs, nil)), now: func() time.Time { return now }}
	o := newOutage("kafka", errs)

	o.ok("produce") // a success while up changes nothing
	if !o.downSince().IsZero() || logs.Len() != 0 {
		t.Fatalf("up: since %v, log %q", o.downSince(), logs.String())
	}
	o.fail("produce", errors.New("dial tcp 127.0.0.1:9092: connection refused"))
	now = now.Add(time.Second)
	o.fail("lag", errors.New("reading the group's lag: connection refused"))
	now = now.Add(time.Second)
	o.fail("produce", errors.New("dial tcp 127.0.0.1:9092: connection refused"))
	if got := o.downSince(); !got.Equal(pinned) {
		t.Fatalf("down since %v, want %v", got, pinned)
	}
	now = now.Add(30 * time.Second)
	o.ok("produce")
	if o.downSince().IsZero() {
		t.Fatal("up again while the lag reads still fail")
	}
	o.ok("lag")
	if !o.downSince().IsZero() {
		t.Fatal("still down after every probe succeeded")
	}

	out := logs.String()
	if n := strings.Count(out, `msg="kafka down"`); n != 1 {
		t.Errorf("%d lines say kafka is down, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, `level=WARN msg="kafka down" error="dial tcp 127.0.0.1:9092: connection refused (retrying until it is back)"`) {
		t.Errorf("the outage line does not say what failed:\n%s", out)
	}
	if n := strings.Count(out, `msg="kafka is back" after=32s failed_calls=3`); n != 1 {
		t.Errorf("want one recovery line with the outage's length and failed calls:\n%s", out)
	}
	evs := errs.events()
	if len(evs) != 2 || evs[0].Level != slog.LevelWarn || evs[1].Message != "kafka is back after 32s and 3 failed calls" {
		t.Errorf("events %+v", evs)
	}

	// A second outage is reported again.
	now = now.Add(time.Minute)
	o.fail("produce", errors.New("broken pipe"))
	o.ok("produce")
	if n := strings.Count(logs.String(), `msg="kafka down"`); n != 2 {
		t.Errorf("a second outage is not logged:\n%s", logs.String())
	}
}

// retry is the loop of every Kafka produce and store call: each case pins
// what it counts and logs, which the outage tests of both paths rely on.
func TestRetryCountsEachFailureOfOneOutage(t *testing.T) {
	const (
		down = `level=WARN msg="kafka down" error="dial tcp 127.0.0.1:9092: connection refused (retrying until it is back)" held_back=0` + "\n"
		back = `level=INFO msg="kafka is back" after=2s failed_calls=2` + "\n"
	)
	for _, tc := range []struct {
		name     string
		failures int // calls that fail before one succeeds
		// cancel ends ctx as a call fails ("call") or as the outage is
		// logged, before the backoff ("log"); never when empty.
		cancel    string
		wantErr   error
		wantCalls int
		wantFails int64 // errors and retries counted
		wantLog   string
		wantDown  bool // the outage is still on when it returns
	}{
		{name: "first call succeeds", wantCalls: 1},
		{name: "recovers after two failures", failures: 2, wantCalls: 3, wantFails: 2, wantLog: down + back},
		{name: "ctx done as the call fails", failures: 1, cancel: "call", wantErr: context.Canceled, wantCalls: 1},
		{name: "ctx done in the backoff", failures: 1, cancel: "log", wantErr: context.Canceled, wantCalls: 1, wantFails: 1, wantLog: down, wantDown: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var logs bytes.Buffer
			w := writerFunc(func(b []byte) (int, error) {
				if tc.cancel == "log" {
					cancel()
				}
				return logs.Write(b)
			})
			noTime := func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}
			now := pinned
			errs := &errorLog{
				log: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: noTime})),
				now: func() time.Time { return now },
			}
			o := newOutage("kafka", errs)
			var retries atomic.Int64
			calls := 0
			err := o.retry(ctx, "produce", &retries, func() error {
				calls++
				now = pinned.Add(time.Duration(calls) * time.Second)
				// Each failure is counted before the next call.
				if got := retries.Load(); got != int64(calls-1) || errs.total.Load() != got {
					t.Errorf("call %d: %d retries and %d errors counted before it", calls, got, errs.total.Load())
				}
				if calls > tc.failures {
					return nil
				}
				if tc.cancel == "call" {
					cancel()
				}
				return errors.New("dial tcp 127.0.0.1:9092: connection refused")
			})
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", calls, tc.wantCalls)
			}
			if retries.Load() != tc.wantFails || errs.total.Load() != tc.wantFails {
				t.Errorf("%d retries and %d errors, want %d of each", retries.Load(), errs.total.Load(), tc.wantFails)
			}
			if logs.String() != tc.wantLog {
				t.Errorf("log:\n%s\nwant:\n%s", logs.String(), tc.wantLog)
			}
			if isDown := !o.downSince().IsZero(); isDown != tc.wantDown {
				t.Errorf("down = %v when it returned, want %v", isDown, tc.wantDown)
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// BenchmarkRetryFirstTry is the cost retry adds to every produce and store
// write that succeeds at once, with a call shaped like send's.
func BenchmarkRetryFirstTry(b *testing.B) {
	b.ReportAllocs()
	ctx := context.Background()
	o := newOutage("kafka", &errorLog{})
	var retries atomic.Int64
	buf := make([]int, 64)
	for b.Loop() {
		var err error
		_ = o.retry(ctx, "produce", &retries, func() error {
			if len(buf) == 0 {
				err = errors.New("empty")
			}
			return err
		})
	}
}
