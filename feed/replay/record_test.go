package replay

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/trade"
)

var updateSample = flag.Bool("update-sample", false, "rewrite the sample recording "+samplePath+" from the synthetic feed")

// The sample recording shipped with tradetop, and how it is made: the
// synthetic feed with seed 42 from 2026-01-02T15:00:00Z, 150,000 trades (about
// 2.5 minutes of event time), of which every 5th goes through Record.
const (
	samplePath  = "../../testdata/sample-trades.jsonl"
	sampleSeed  = 42
	sampleCount = 150_000
	sampleEvery = 5
)

var sampleStart = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

// testStart pins the synthetic feed's clock in the other recordings.
var testStart = time.Date(2026, 1, 2, 14, 30, 0, 0, time.UTC)

func mustSynthetic(t testing.TB, cfg feed.SyntheticConfig) *feed.Synthetic {
	t.Helper()
	s, err := feed.NewSynthetic(cfg)
	if err != nil {
		t.Fatalf("NewSynthetic: %v", err)
	}
	return s
}

// everyNth is a feed.Source that hands on every nth trade of src.
type everyNth struct {
	src feed.Source
	n   int
}

func (e everyNth) Name() string { return fmt.Sprintf("%s, every %dth trade", e.src.Name(), e.n) }

func (e everyNth) Run(ctx context.Context, emit func(trade.Trade) error) error {
	k := 0
	return e.src.Run(ctx, func(t trade.Trade) error {
		k++
		if k%e.n != 0 {
			return nil
		}
		return emit(t)
	})
}

// sampleSource is the source of the sample recording.
func sampleSource(t testing.TB) feed.Source {
	return everyNth{mustSynthetic(t, feed.SyntheticConfig{Seed: sampleSeed, Start: sampleStart, Count: sampleCount}), sampleEvery}
}

// runAll runs src to completion and returns what it emitted.
func runAll(t testing.TB, src feed.Source) []trade.Trade {
	t.Helper()
	var got []trade.Trade
	if err := src.Run(context.Background(), func(tr trade.Trade) error {
		got = append(got, tr)
		return nil
	}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return got
}

// recordAll runs Record(src) to completion and returns what it wrote and
// what it emitted.
func recordAll(t testing.TB, src feed.Source) ([]byte, []trade.Trade) {
	t.Helper()
	var buf bytes.Buffer
	got := runAll(t, Record(src, &buf))
	return buf.Bytes(), got
}

// TestSampleRecording guards the sample recording: it must be byte for byte
// what the synthetic feed and Record make now. With -update-sample it
// rewrites the file instead.
func TestSampleRecording(t *testing.T) {
	got, emitted := recordAll(t, sampleSource(t))
	if n := len(emitted); n != sampleCount/sampleEvery {
		t.Fatalf("%d trades recorded, want %d", n, sampleCount/sampleEvery)
	}
	if *updateSample {
		if err := os.MkdirAll(filepath.Dir(samplePath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(samplePath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: %d trades, %d bytes, %s of event time", samplePath, len(emitted), len(got),
			emitted[len(emitted)-1].Time.Sub(emitted[0].Time))
		return
	}
	want, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatalf("%v (make it with: go test ./feed -run TestSampleRecording -update-sample)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what the synthetic feed records now (%d bytes, want %d); "+
			"if the feed changed on purpose, run: go test ./feed -run TestSampleRecording -update-sample",
			samplePath, len(want), len(got))
	}
	if span := emitted[len(emitted)-1].Time.Sub(emitted[0].Time); span < 2*time.Minute || span > 5*time.Minute {
		t.Errorf("the sample spans %s of event time, want a few minutes", span)
	}
	if len(want) > 3<<20 {
		t.Errorf("the sample is %d bytes, want at most 3 MiB", len(want))
	}
}

func TestRecordWritesWireLines(t *testing.T) {
	src := mustSynthetic(t, feed.SyntheticConfig{Seed: 3, Start: testStart, Count: 500})
	out, emitted := recordAll(t, src)
	if want := runAll(t, src); !slices.Equal(emitted, want) {
		t.Fatal("Record changed the trades it handed on")
	}
	var want []byte
	for i := range emitted {
		want = trade.AppendJSON(want, &emitted[i])
		want = append(want, '\n')
	}
	if !bytes.Equal(out, want) {
		t.Errorf("recording is not one wire-form line per trade:\n got %.200q\nwant %.200q", out, want)
	}
}

func TestRecordReplayRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cfg  feed.SyntheticConfig
	}{
		{name: "pinned start", cfg: feed.SyntheticConfig{Seed: 7, Start: testStart, Count: 3000}},
		{name: "wall clock", cfg: feed.SyntheticConfig{Seed: 8, Count: 3000, Now: func() time.Time { return testStart.Add(time.Hour) }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, want := recordAll(t, mustSynthetic(t, tt.cfg))
			path := writeFile(t, "rec.jsonl", string(out))
			r := mustReplay(t, Config{Path: path})
			got := runAll(t, r)
			if !slices.EqualFunc(got, want, sameTrade) {
				t.Errorf("replay of the recording differs: %d trades, want %d", len(got), len(want))
			}
			if rep := r.Report(); rep.Bad != 0 {
				t.Errorf("%d bad lines in a recording, the latest %q", rep.Bad, rep.LastBad)
			}
		})
	}
}

// sameTrade compares trades field by field, times by instant.
func sameTrade(a, b trade.Trade) bool {
	return a.ID == b.ID && a.Symbol == b.Symbol && a.Price == b.Price && a.Volume == b.Volume && a.Time.Equal(b.Time)
}

// fakeSource emits its trades, then, if wait is set, waits for ctx.
type fakeSource struct {
	trades []trade.Trade
	wait   bool
}

func (f *fakeSource) Name() string { return "fake" }

func (f *fakeSource) Run(ctx context.Context, emit func(trade.Trade) error) error {
	for _, t := range f.trades {
		if err := emit(t); err != nil {
			return err
		}
	}
	if f.wait {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

type fakeReporter struct{ *fakeSource }

func (fakeReporter) Report() feed.Report {
	return feed.Report{Bad: 3, LastBad: "line 9: bad", Connected: true}
}

type fakeSubscriber struct {
	*fakeSource
	subs *[]string
}

func (f fakeSubscriber) Subscribe(s string) error {
	*f.subs = append(*f.subs, s)
	return nil
}

func (f fakeSubscriber) Unsubscribe(s string) error {
	if i := slices.Index(*f.subs, s); i >= 0 {
		*f.subs = slices.Delete(*f.subs, i, i+1)
		return nil
	}
	return fmt.Errorf("%s is not subscribed", s)
}

func (f fakeSubscriber) Symbols() []string { return slices.Sorted(slices.Values(*f.subs)) }

type fakeReportingSubscriber struct {
	fakeReporter
	fakeSubscriber
}

func (f fakeReportingSubscriber) Name() string { return "fake" }

func (f fakeReportingSubscriber) Run(ctx context.Context, emit func(trade.Trade) error) error {
	return f.fakeReporter.Run(ctx, emit)
}

func TestRecordPassesThrough(t *testing.T) {
	fake := &fakeSource{}
	tests := []struct {
		name                      string
		src                       feed.Source
		wantReport, wantSubscribe bool
	}{
		{name: "plain source", src: fake},
		{name: "reporter", src: fakeReporter{fake}, wantReport: true},
		{name: "subscriber", src: fakeSubscriber{fake, new([]string)}, wantSubscribe: true},
		{
			name:       "reporter and subscriber",
			src:        fakeReportingSubscriber{fakeReporter{fake}, fakeSubscriber{fake, new([]string)}},
			wantReport: true, wantSubscribe: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := Record(tt.src, &bytes.Buffer{})
			if got := rec.Name(); got != "fake, recording" {
				t.Errorf("Name() = %q", got)
			}
			rep, ok := feed.As[feed.Reporter](rec)
			if ok != tt.wantReport {
				t.Fatalf("recorder is a Reporter: %v, want %v", ok, tt.wantReport)
			}
			if ok {
				if got := rep.Report(); got.Bad != 3 || got.LastBad != "line 9: bad" {
					t.Errorf("Report() = %+v, not the wrapped source's", got)
				}
			}
			sub, ok := feed.As[feed.Subscriber](rec)
			if ok != tt.wantSubscribe {
				t.Fatalf("recorder is a Subscriber: %v, want %v", ok, tt.wantSubscribe)
			}
			if ok {
				if err := sub.Subscribe("MSFT"); err != nil {
					t.Fatal(err)
				}
				if err := sub.Subscribe("AAPL"); err != nil {
					t.Fatal(err)
				}
				if got := sub.Symbols(); !slices.Equal(got, []string{"AAPL", "MSFT"}) {
					t.Errorf("Symbols() = %q after two subscriptions", got)
				}
				if err := sub.Unsubscribe("NOPE"); err == nil {
					t.Error("Unsubscribe of a symbol never subscribed succeeded")
				}
			}
		})
	}
}

// failingWriter fails every write after the first ok bytes.
type failingWriter struct {
	mu  sync.Mutex
	ok  int
	buf bytes.Buffer
}

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len()+len(p) > w.ok {
		return 0, errDiskFull
	}
	return w.buf.Write(p)
}

func (w *failingWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestRecordWriteError(t *testing.T) {
	tests := []struct {
		name string
		src  func(t *testing.T) feed.Source
	}{
		{
			// Writes fail when the buffer fills, inside emit.
			name: "busy unbounded source",
			src: func(t *testing.T) feed.Source {
				return mustSynthetic(t, feed.SyntheticConfig{Seed: 1, Start: testStart})
			},
		},
		{
			// The once-a-second flush fails while the source is quiet.
			name: "idle source",
			src: func(t *testing.T) feed.Source {
				return &fakeSource{trades: runAll(t, mustSynthetic(t, feed.SyntheticConfig{Seed: 1, Start: testStart, Count: 5})), wait: true}
			},
		},
		{
			// The last flush, when the source is done, fails.
			name: "finished source",
			src: func(t *testing.T) feed.Source {
				return mustSynthetic(t, feed.SyntheticConfig{Seed: 1, Start: testStart, Count: 5})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := tt.src(t)
				emitted := 0
				err := Record(src, &failingWriter{}).Run(t.Context(), func(trade.Trade) error {
					emitted++
					return nil
				})
				if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "recording trades: disk full") {
					t.Fatalf("Run returned %v, want the write error", err)
				}
				if errors.Is(err, context.Canceled) {
					t.Errorf("Run returned %v: the cancellation that stopped the source is not news", err)
				}
				if emitted == 0 {
					t.Error("nothing was emitted")
				}
			})
		})
	}
}

func TestRecordWriteErrorAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		src := &fakeSource{trades: runAll(t, mustSynthetic(t, feed.SyntheticConfig{Seed: 1, Start: testStart, Count: 5})), wait: true}
		errc := make(chan error)
		go func() {
			errc <- Record(src, &failingWriter{}).Run(ctx, func(trade.Trade) error { return nil })
		}()
		synctest.Wait()
		cancel()
		err := <-errc
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errDiskFull) {
			t.Errorf("Run returned %v, want the cancellation and the write error", err)
		}
	})
}

func TestRecordFlushesEverySecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		trades := runAll(t, mustSynthetic(t, feed.SyntheticConfig{Seed: 2, Start: testStart, Count: 3}))
		w := &failingWriter{ok: 1 << 20}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error)
		go func() {
			errc <- Record(&fakeSource{trades: trades, wait: true}, w).Run(ctx, func(trade.Trade) error { return nil })
		}()
		time.Sleep(recordFlushEvery - time.Millisecond)
		synctest.Wait()
		if got := w.String(); got != "" {
			t.Fatalf("written before the first flush: %q", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if n := strings.Count(w.String(), "\n"); n != len(trades) {
			t.Errorf("%d lines written after a second, want %d", n, len(trades))
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

func TestRecordEmitError(t *testing.T) {
	errStop := errors.New("pipeline stopped")
	src := mustSynthetic(t, feed.SyntheticConfig{Seed: 5, Start: testStart, Count: 100})
	var buf bytes.Buffer
	n := 0
	err := Record(src, &buf).Run(t.Context(), func(trade.Trade) error {
		n++
		if n == 10 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Run returned %v, want emit's error", err)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != 9 {
		t.Errorf("%d trades recorded, want the 9 emit took", lines)
	}
}

// writeFile writes content to a file named name in a test directory and
// returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustReplay(t testing.TB, cfg Config) *Source {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}
