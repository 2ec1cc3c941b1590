package pipeline

import (
	"slices"
	"testing"
	"time"

	"github.com/tradetop/tradetop/bus"
)

func TestGroupWatchTellsOfMembersAndMoves(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	a := bus.Member{ID: "a-1", ClientID: "tradetop-process-h-1", Host: "/10.0.0.1", Partitions: []int{0, 1, 2}}
	b := bus.Member{ID: "b-1", ClientID: "tradetop-process-h-2", Host: "/10.0.0.2", Partitions: []int{3, 4, 5}}
	lag := func(committed ...int64) []bus.PartitionLag {
		out := make([]bus.PartitionLag, len(committed))
		for i, c := range committed {
			out[i] = bus.PartitionLag{Partition: i, Committed: c, End: 1000, Lag: 1000 - c}
		}
		return out
	}
	steps := []struct {
		name    string
		at      time.Duration
		commits []int64
		group   bus.Group
		want    []string
	}{
		{"the first read sets the scene", 0, []int64{10, 10, 10, 10, 10, 10},
			bus.Group{State: "Stable", Members: []bus.Member{a, b}}, nil},
		{"a's commits stop", 2 * time.Second, []int64{10, 10, 10, 20, 20, 20},
			bus.Group{State: "Stable", Members: []bus.Member{a, b}}, nil},
		{"a is gone; its partitions wait", 12 * time.Second, []int64{10, 10, 10, 30, 30, 30},
			bus.Group{State: "PreparingRebalance", Members: []bus.Member{{ID: "b-1", ClientID: b.ClientID, Host: b.Host}}},
			[]string{
				"member tradetop-process-h-1 (10.0.0.1) left; partitions 0, 1, 2 wait for a new owner",
			}},
		{"b takes them all; c joins with none", 13500 * time.Millisecond, []int64{10, 10, 10, 40, 40, 40},
			bus.Group{State: "Stable", Members: []bus.Member{
				{ID: "b-1", ClientID: b.ClientID, Host: b.Host, Partitions: []int{0, 1, 2, 3, 4, 5}},
				{ID: "c-1", ClientID: "tradetop-process-h-3", Host: "/10.0.0.3"},
			}},
			[]string{
				"member tradetop-process-h-3 (10.0.0.3) joined",
				"partitions 0, 1, 2 moved from tradetop-process-h-1 (10.0.0.1) to tradetop-process-h-2 (10.0.0.2) after 1.5s without an owner; their commits had stood still for 13.5s",
			}},
		{"nothing changes", 14 * time.Second, []int64{50, 50, 50, 50, 50, 50},
			bus.Group{State: "Stable", Members: []bus.Member{
				{ID: "b-1", ClientID: b.ClientID, Host: b.Host, Partitions: []int{0, 1, 2, 3, 4, 5}},
				{ID: "c-1", ClientID: "tradetop-process-h-3", Host: "/10.0.0.3"},
			}}, nil},
		{"a rebalance between two reads gives c half", 15 * time.Second, []int64{60, 60, 60, 60, 60, 60},
			bus.Group{State: "Stable", Members: []bus.Member{
				{ID: "b-1", ClientID: b.ClientID, Host: b.Host, Partitions: []int{0, 1, 2}},
				{ID: "c-1", ClientID: "tradetop-process-h-3", Host: "/10.0.0.3", Partitions: []int{3, 4, 5}},
			}},
			[]string{"partitions 3, 4, 5 moved from tradetop-process-h-2 (10.0.0.2) to tradetop-process-h-3 (10.0.0.3)"}},
	}
	var w groupWatch
	for _, s := range steps {
		at := t0.Add(s.at)
		w.commits(lag(s.commits...), at)
		if got := w.observe(s.group, at); !slices.Equal(got, s.want) {
			t.Errorf("%s:\n got %q\nwant %q", s.name, got, s.want)
		}
	}
	if _, _, n := w.snapshot(); n != 2 {
		t.Errorf("%d rebalances seen, want 2", n)
	}
}
