package tui

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/state"
)

// partitionAt is one partition's end, committed and read offsets at second
// t of a run.
type partitionAt func(t float64) (end, committed, pos int64)

// commitsAt commits off, the read position at the last minute boundary
// once lateness seconds have passed it, as tradetop does with a one-minute
// window: the first commit comes when the first minute is closed.
func commitsAt(lateness float64, pos func(float64) float64) func(float64) int64 {
	return func(t float64) int64 {
		at := math.Floor((t-lateness)/60) * 60
		if at <= 0 {
			return -1
		}
		return int64(pos(at))
	}
}

func TestVerdicts(t *testing.T) {
	steady := func(t float64) float64 { return 100 * t }
	tests := []struct {
		name     string
		lateness time.Duration // the snapshot's allowed lateness
		part     partitionAt
		at       int // second judged
		want     verdict
		until    verdict // the verdict before `at`, from two windows in
	}{
		{
			name: "healthy sawtooth", lateness: 2 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				return int64(steady(t)), commitsAt(2, steady)(t), int64(steady(t)) - 3
			},
			at: 400, want: verdictOK, until: verdictOK,
		},
		{
			// The first commit comes after 160 seconds, later than a
			// window judged without the lateness (140s) would allow.
			name: "healthy, long lateness", lateness: 100 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				return int64(steady(t)), commitsAt(100, steady)(t), int64(steady(t)) - 3
			},
			at: 600, want: verdictOK, until: verdictOK,
		},
		{
			name: "reads go on, commits stuck, long lateness", lateness: 100 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				return int64(steady(t)), commitsAt(100, steady)(min(t, 170)), int64(steady(t))
			},
			at: 600, want: verdictStall,
		},
		{
			name: "reads go on, commits stuck", lateness: 2 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				return int64(steady(t)), commitsAt(2, steady)(min(t, 70)), int64(steady(t))
			},
			at: 220, want: verdictStall,
		},
		{
			name: "consumer gone", lateness: 2 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				return int64(steady(t)), commitsAt(2, steady)(min(t, 70)), int64(steady(min(t, 70)))
			},
			at: 220, want: verdictStop,
		},
		{
			name: "falling behind", lateness: 2 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				slow := func(t float64) float64 { return 80 * t }
				return int64(steady(t)), commitsAt(2, slow)(t), int64(slow(t))
			},
			at: 300, want: verdictWarn,
		},
		{
			name: "idle, windows wait for later trades", lateness: 2 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				end := int64(steady(min(t, 100)))
				return end, commitsAt(2, steady)(min(t, 100)), end
			},
			at: 400, want: verdictOK, until: verdictOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lt := newLagTracker()
			for sec := 1; sec <= tt.at; sec++ {
				end, committed, pos := tt.part(float64(sec))
				lag := end - committed
				if committed < 0 {
					lag = end
				}
				now := t0.Add(time.Duration(sec) * time.Second)
				lt.record(&state.Snapshot{
					Time: now, LagTime: now, Intervals: []time.Duration{time.Second, time.Minute}, AllowedLateness: tt.lateness,
					Lag:       []state.PartitionLag{{Partition: 0, End: end, Committed: committed, Lag: lag}},
					Positions: map[int]int64{0: pos}, TotalLag: lag,
				})
				got := lt.verdict(lt.parts[0])
				if sec == tt.at && got != tt.want {
					t.Errorf("at %ds: %v, want %v", sec, got, tt.want)
				}
				if tt.want == tt.until && got != tt.until {
					t.Fatalf("at %ds: %v, want %v throughout", sec, got, tt.until)
				}
			}
		})
	}
}

func TestLagWindow(t *testing.T) {
	for _, tt := range []struct {
		name     string
		in       []time.Duration
		lateness time.Duration
		want     time.Duration
	}{
		{"before the first snapshot", nil, 0, 30 * time.Second},
		{"short windows", []time.Duration{time.Second}, 2 * time.Second, 30 * time.Second},
		{"defaults", []time.Duration{time.Second, time.Minute}, 2 * time.Second, 140 * time.Second},
		{"no lateness", []time.Duration{time.Second, time.Minute}, 0, 136 * time.Second},
		{"long lateness", []time.Duration{time.Second, time.Minute}, 100 * time.Second, 336 * time.Second},
		{"five-minute windows", []time.Duration{5 * time.Minute}, 2 * time.Second, 620 * time.Second},
	} {
		if got := lagWindow(tt.in, tt.lateness); got != tt.want {
			t.Errorf("%s: lagWindow(%v, %v) = %v, want %v", tt.name, tt.in, tt.lateness, got, tt.want)
		}
	}
}

func TestOffsetAgeAndDrain(t *testing.T) {
	lt := newLagTracker()
	// 100 messages a second arrive; the reader is 250 behind and reads 150
	// a second from second 10.
	for sec := 1; sec <= 14; sec++ {
		end := int64(100 * sec)
		pos := max(end-250, 0)
		if sec > 10 {
			pos = min(end, int64(750+150*(sec-10)))
		}
		now := t0.Add(time.Duration(sec) * time.Second)
		lt.record(&state.Snapshot{Time: now, LagTime: now,
			Lag: []state.PartitionLag{{Partition: 0, End: end, Committed: 0, Lag: end}}, Positions: map[int]int64{0: pos}})
		if sec == 10 {
			age, ok := lt.parts[0].offsetAge(pos)
			if !ok || age < 2*time.Second || age > 3*time.Second {
				t.Errorf("the oldest unread message is %v old (%v), want 2.5s", age, ok)
			}
		}
	}
	sum := lt.summary(lt.parts[0].latest.end - lt.parts[0].latest.pos)
	if !sum.reading || sum.read < 140 || sum.in < 90 || sum.in > 110 {
		t.Errorf("rates in %.0f read %.0f", sum.in, sum.read)
	}
	if sum.drain < 500*time.Millisecond || sum.drain > 2*time.Second {
		t.Errorf("drain estimate %v", sum.drain)
	}
}

// TestUnreadTotalIsTheSumOfItsRows checks every frame of a run whose read
// positions move on between lag reads, as the pipeline's do: the unread
// total under the partitions is the sum of their UNREAD column.
func TestUnreadTotalIsTheSumOfItsRows(t *testing.T) {
	src := &fakeSource{f: newFixture(12)}
	src.f.livePositions = true
	m := New(src, Options{Styles: asciiStyles()})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 160, Height: 48})
	nonzero := 0
	for k := 4; k <= 100; k++ {
		m, _ = step(t, m, snapshotMsg{src.at(k)})
		rows, total, ok := unreadColumn(m.lag.View(false))
		if !ok {
			t.Fatalf("frame %d: no unread column or total in\n%s", k, m.lag.View(false))
		}
		var sum int64
		for _, v := range rows {
			sum += v
		}
		if sum != total {
			t.Fatalf("frame %d: rows %v sum to %d beside unread %d:\n%s", k, rows, sum, total, m.lag.View(false))
		}
		if sum > 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Errorf("nothing was ever unread: the test shows nothing")
	}
}

// unreadColumn reads a drawn lag pane: each partition's UNREAD value and
// the unread total under them.
func unreadColumn(view string) (rows []int64, total int64, ok bool) {
	col := -1
	num := func(s string) (int64, bool) {
		if s == "—" {
			return 0, true
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
		return n, err == nil
	}
	for _, line := range strings.Split(ansi.Strip(view), "\n") {
		fields := strings.Fields(strings.Trim(line, "│┃ "))
		if col < 0 {
			col = slices.Index(fields, "UNREAD")
			continue
		}
		if len(fields) > col {
			if _, err := strconv.Atoi(fields[0]); err == nil {
				v, good := num(fields[col])
				if !good {
					return nil, 0, false
				}
				rows = append(rows, v)
				continue
			}
		}
		if i := slices.Index(fields, "unread"); i >= 0 && i+1 < len(fields) {
			total, ok = num(fields[i+1])
			return rows, total, ok && len(rows) > 0
		}
	}
	return nil, 0, false
}

// TestPausedPartitionsSayPaused pauses the feed: the partitions whose
// verdict is OK say PAUSED, since nothing new arrives to judge them by;
// once resumed they say OK again.
func TestPausedPartitionsSayPaused(t *testing.T) {
	m, src := newTestModel(t, 12, 160, 48, 40)
	states := func() []string {
		var out []string
		for _, l := range strings.Split(ansi.Strip(m.lag.View(false)), "\n") {
			f := strings.Fields(strings.Trim(l, "│ "))
			if len(f) > 4 {
				if _, err := strconv.Atoi(f[0]); err == nil {
					out = append(out, f[len(f)-1])
				}
			}
		}
		return out
	}
	src.f.paused = true
	m, _ = step(t, m, snapshotMsg{src.at(41)})
	got := states()
	if len(got) != partitions {
		t.Fatalf("%d partition rows, want %d", len(got), partitions)
	}
	for i, s := range got {
		if s != "PAUSED" {
			t.Errorf("paused: partition %d says %s, want PAUSED", i, s)
		}
	}
	src.f.paused = false
	m, _ = step(t, m, snapshotMsg{src.at(42)})
	for i, s := range states() {
		if s != "OK" {
			t.Errorf("resumed: partition %d says %s, want OK", i, s)
		}
	}
}
