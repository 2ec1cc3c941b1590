package pipeline

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
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
