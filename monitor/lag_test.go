package monitor

import (
	"math"
	"strings"
	"testing"
	"time"

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
		want     Verdict
		until    Verdict // the verdict before `at`, from two windows in
	}{
		{
			name: "healthy sawtooth", lateness: 2 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				return int64(steady(t)), commitsAt(2, steady)(t), int64(steady(t)) - 3
			},
			at: 400, want: OK, until: OK,
		},
		{
			// The first commit comes after 160 seconds, later than a
			// window judged without the lateness (140s) would allow.
			name: "healthy, long lateness", lateness: 100 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				return int64(steady(t)), commitsAt(100, steady)(t), int64(steady(t)) - 3
			},
			at: 600, want: OK, until: OK,
		},
		{
			name: "reads go on, commits stuck, long lateness", lateness: 100 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				return int64(steady(t)), commitsAt(100, steady)(min(t, 170)), int64(steady(t))
			},
			at: 600, want: Stall,
		},
		{
			name: "reads go on, commits stuck", lateness: 2 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				return int64(steady(t)), commitsAt(2, steady)(min(t, 70)), int64(steady(t))
			},
			at: 220, want: Stall,
		},
		{
			name: "consumer gone", lateness: 2 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				return int64(steady(t)), commitsAt(2, steady)(min(t, 70)), int64(steady(min(t, 70)))
			},
			at: 220, want: Stop,
		},
		{
			name: "falling behind", lateness: 2 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				slow := func(t float64) float64 { return 80 * t }
				return int64(steady(t)), commitsAt(2, slow)(t), int64(slow(t))
			},
			at: 300, want: Warn,
		},
		{
			name: "idle, windows wait for later trades", lateness: 2 * time.Second,
			part: func(t float64) (int64, int64, int64) {
				end := int64(steady(min(t, 100)))
				return end, commitsAt(2, steady)(min(t, 100)), end
			},
			at: 400, want: OK, until: OK,
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
				got, why := lt.verdict(lt.parts[0])
				if (got == OK) != (why == "") {
					t.Fatalf("at %ds: %v with reason %q: want a reason exactly when not OK", sec, got, why)
				}
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
	if !sum.Reading || sum.Read < 140 || sum.In < 90 || sum.In > 110 {
		t.Errorf("rates in %.0f read %.0f", sum.In, sum.Read)
	}
	if sum.Drain < 500*time.Millisecond || sum.Drain > 2*time.Second {
		t.Errorf("drain estimate %v", sum.Drain)
	}
}

// t0 is the start of the tests' runs.
var t0 = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

// BenchmarkObserve is the cost of judging one snapshot of six partitions,
// which the process's watcher does for every snapshot published (4 a
// second).
func BenchmarkObserve(b *testing.B) {
	m := New()
	var snaps []*state.Snapshot
	for sec := 1; sec <= 1000; sec++ {
		now := t0.Add(time.Duration(sec) * time.Second)
		s := &state.Snapshot{Time: now, LagTime: now, Intervals: []time.Duration{time.Second, time.Minute}, Positions: map[int]int64{}}
		for p := range 6 {
			end := int64(1000 * sec)
			s.Lag = append(s.Lag, state.PartitionLag{Partition: p, End: end, Committed: end - 500, Lag: 500})
			s.Positions[p] = end - 100
		}
		snaps = append(snaps, s)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Observe(snaps[i%len(snaps)], false)
		i++
	}
}

// TestVerdictsNameTheOwner: a partition whose commits stopped says which
// member of the group owns it, or that none does; each partition knows its
// owner and whether it is this process.
func TestVerdictsNameTheOwner(t *testing.T) {
	m := New()
	var r *Report
	for sec := 0; sec <= 60; sec++ {
		now := t0.Add(time.Duration(sec) * time.Second)
		s := &state.Snapshot{Time: now, LagTime: now, GroupTime: now, Joined: true, MemberID: "me-1", Assigned: []int{1},
			Lag: []state.PartitionLag{
				{Partition: 0, End: 1000, Committed: 100, Lag: 900},
				{Partition: 1, End: 1000 + int64(sec), Committed: 1000 + int64(sec), Lag: 0},
				{Partition: 2, End: 1000, Committed: 100, Lag: 900},
			},
			Positions: map[int]int64{1: 1000 + int64(sec)},
			Members: []state.Member{
				{ID: "me-1", ClientID: "tradetop-process-h-1", Partitions: []int{1}},
				{ID: "other-1", ClientID: "tradetop-process-h-2", Partitions: []int{0}},
			}}
		r = m.Observe(s, false)
	}
	want := []struct {
		verdict Verdict
		owner   string
		mine    bool
		reason  string
	}{
		{Stop, "tradetop-process-h-2", false, "; owned by tradetop-process-h-2"},
		{OK, "tradetop-process-h-1", true, ""},
		{Stop, "", false, "; no member of the group owns it"},
	}
	for i, w := range want {
		p := r.Partitions[i]
		if p.Verdict != w.verdict || p.Owner != w.owner || p.Mine != w.mine || !strings.HasSuffix(p.Reason, w.reason) {
			t.Errorf("partition %d: %s %q owner %q mine %v; want %s, a reason ending %q, owner %q mine %v",
				i, p.Verdict, p.Reason, p.Owner, p.Mine, w.verdict, w.reason, w.owner, w.mine)
		}
	}
}
