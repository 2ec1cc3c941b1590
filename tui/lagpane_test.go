package tui

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/tradetop/tradetop/state"
)

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

// TestLagPaneShowsTheGroup: with other members in the group, each
// partition names its owner (this process, another by host and PID, or
// none), the title counts the members, and an idle member says so.
func TestLagPaneShowsTheGroup(t *testing.T) {
	f := newFixture(12)
	m := New(&fakeSource{f: f}, Options{Styles: asciiStyles()})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 160, Height: 48})
	group := func(s *state.Snapshot, mine []int) *state.Snapshot {
		s.GroupTime, s.Joined, s.MemberID, s.Assigned = s.Time, true, "me-1", mine
		s.Members = []state.Member{
			{ID: "me-1", ClientID: "tradetop-process-box-41", Partitions: mine},
			{ID: "other-1", ClientID: "tradetop-process-otherhost-7", Partitions: []int{2, 3}},
			{ID: "idle-1", ClientID: "tradetop-process-box-99"},
		}
		return s
	}
	for k := 1; k <= 8; k++ {
		m, _ = step(t, m, snapshotMsg{group(f.snapshot(k), []int{0, 1})})
	}
	view := ansi.Strip(m.lag.View(false))
	for _, want := range []string{"OWNER", "this process", "otherhost-7", "none", "3 members"} {
		if !strings.Contains(view, want) {
			t.Errorf("lag pane without %q:\n%s", want, view)
		}
	}
	if strings.Contains(view, "idle here") {
		t.Errorf("a member with partitions says it is idle:\n%s", view)
	}
	m, _ = step(t, m, snapshotMsg{group(f.snapshot(9), nil)})
	if view := ansi.Strip(m.lag.View(false)); !strings.Contains(view, "idle here") {
		t.Errorf("an idle member does not say so:\n%s", view)
	}
	if badge := ansi.Strip(m.pipelineBadge()); badge != "IDLE" {
		t.Errorf("header badge %q, want IDLE", badge)
	}
}
