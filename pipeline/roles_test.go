package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/state"
	"github.com/tradetop/tradetop/store/sqlite"
	"github.com/tradetop/tradetop/store/storetest"
)

// roleRun is one pipeline of a role running in the test's process.
type roleRun struct {
	p    *Pipeline
	stop context.CancelFunc
	done chan error
}

// startRole runs cfg in a goroutine until its source ends or stop.
func startRole(t *testing.T, cfg Config) *roleRun {
	t.Helper()
	cfg.LagInterval = 200 * time.Millisecond
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &roleRun{p: p, stop: stop, done: make(chan error, 1)}
	go func() {
		_, err := p.Run(ctx)
		r.done <- err
	}()
	t.Cleanup(func() {
		p.Abort()
		<-r.done
	})
	return r
}

// wait waits for the run to end and returns its error.
func (r *roleRun) wait(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(limit):
		t.Fatalf("the run did not end within %s", limit)
		return nil
	}
}

// waitFor polls cond every 20ms for at most limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// embeddedGroup starts an embedded broker with the topic and returns the
// Kafka settings of a group on it.
func embeddedGroup(t *testing.T, partitions int) bus.Config {
	t.Helper()
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Partitions: partitions, Topics: []string{"trades", "trades.dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	return bus.Config{Brokers: []string{emb.Addr()}, Topic: "trades", Group: "roles", Partitions: partitions}
}

func withClient(k bus.Config, id string) bus.Config {
	k.ClientID = id
	return k
}

// groupLag is the group's committed lag, summed over the topic.
func groupLag(t *testing.T, k bus.Config) int64 {
	t.Helper()
	a := bus.NewAdmin(k)
	defer a.Close()
	l, err := a.Lag(context.Background(), k.Group, k.Topic)
	if err != nil {
		return -1
	}
	var sum int64
	for _, pl := range l {
		sum += pl.Lag
	}
	return sum
}

// TestRolesShareTheGroup runs one ingest and processors in one group:
// one processor stops at once mid-run (its uncommitted work is read again
// by the others), another joins later, and the store read directly holds
// exactly what the input says, as one process of role all would store it.
func TestRolesShareTheGroup(t *testing.T) {
	const n = 60000
	k := embeddedGroup(t, 6)
	path := filepath.Join(t.TempDir(), "roles.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := feed.DefaultUniverse()
	// Stopped together, a processor whose drain meets the rebalance of
	// another's leaving may wait out a member's session (10 s), as the
	// command's roles test allows for too: the drain gets a minute.
	processor := func(id string) *roleRun {
		return startRole(t, Config{Role: RoleProcess, Store: st, Sector: u.Sector, Kafka: withClient(k, id), BatchTrades: 500, DrainTimeout: time.Minute})
	}
	stored := func() int64 {
		c, err := st.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return c.Trades
	}
	limit := e2e.Bound(t, time.Minute)

	a, b, c := processor("proc-a"), processor("proc-b"), processor("proc-c")
	// Bounded by the group's lag, the ingest cannot run far ahead.
	in := startRole(t, Config{Role: RoleIngest, Source: synthetic(t, 11, n), Kafka: withClient(k, "ingest"), MaxLag: 8000})
	waitFor(t, limit, "a third of the trades stored", func() bool { return stored() >= n/3 })
	a.p.Abort()
	if err := a.wait(t, limit); !errors.Is(err, ErrAborted) && err != nil {
		t.Fatalf("aborted processor: %v", err)
	}
	waitFor(t, limit, "two thirds stored", func() bool { return stored() >= 2*n/3 })
	d := processor("proc-d")
	if err := in.wait(t, limit); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	if s := in.p.Snapshot(); s.Produced != n || s.Bound != state.BoundGroupLag {
		t.Errorf("ingest produced %d under bound %q, want %d under %q", s.Produced, s.Bound, n, state.BoundGroupLag)
	}
	waitFor(t, limit, "the group's lag at 0", func() bool { return groupLag(t, k) == 0 })
	// After the rebalances each shows only the partitions it owns now.
	waitFor(t, limit, "each processor's positions those of its partitions", func() bool {
		for _, r := range []*roleRun{b, c, d} {
			s := r.p.Snapshot()
			var have []int
			for part := range s.Positions {
				have = append(have, part)
			}
			slices.Sort(have)
			if !s.Joined || !slices.Equal(have, s.Assigned) {
				return false
			}
		}
		return true
	})
	for _, r := range []*roleRun{b, c, d} {
		r.stop()
	}
	for _, r := range []*roleRun{b, c, d} {
		if err := r.wait(t, limit); err != nil {
			t.Fatalf("processor: %v", err)
		}
	}

	got := storetest.ReadSQLite(t, path)
	storetest.Check(t, "1 ingest + 3 processors, one stopped at once, one joining late", got,
		storetest.Reference(generated(t, synthetic(t, 11, n)), storetest.Windows{SectorOf: u.Sector}))

	// The others saw the stopped member go and took its partitions.
	var moved bool
	for _, r := range []*roleRun{b, c} {
		for _, e := range r.p.Snapshot().Events {
			if e.Source == "group" && strings.Contains(e.Message, "moved from proc-a") {
				moved = true
			}
		}
	}
	if !moved {
		t.Errorf("no processor told of proc-a's partitions moving: %v", b.p.Snapshot().Events)
	}
}

// TestIngestHeldByTheGroupsLag runs an ingest with no processor: it stops
// at MaxLag of unread trades and says it is held, then goes on once a
// processor reads.
func TestIngestHeldByTheGroupsLag(t *testing.T) {
	const n, maxLag = 30000, 5000
	k := embeddedGroup(t, 6)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "held.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	limit := e2e.Bound(t, time.Minute)
	in := startRole(t, Config{Role: RoleIngest, Source: synthetic(t, 5, n), Kafka: k, MaxLag: maxLag})
	waitFor(t, limit, "the ingest held", func() bool {
		s := in.p.Snapshot()
		return s != nil && s.Holding && s.Produced > 0
	})
	// Held for several lag reads: what it produced stays under the bound.
	for range 5 {
		time.Sleep(250 * time.Millisecond)
		s := in.p.Snapshot()
		if s.Produced > maxLag {
			t.Fatalf("produced %d with no processor, past --max-lag %d", s.Produced, maxLag)
		}
		if !s.Holding || s.BoundLimit != maxLag || s.BoundUsed < s.Produced {
			t.Fatalf("held %v, bound %d of %d, produced %d", s.Holding, s.BoundUsed, s.BoundLimit, s.Produced)
		}
	}
	proc := startRole(t, Config{Role: RoleProcess, Store: st, Sector: feed.DefaultUniverse().Sector, Kafka: k})
	if err := in.wait(t, limit); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	waitFor(t, limit, "every trade stored", func() bool {
		c, err := st.Counts(context.Background())
		return err == nil && c.Trades == n
	})
	proc.stop()
	if err := proc.wait(t, limit); err != nil {
		t.Fatalf("processor: %v", err)
	}
}

// TestMoreProcessorsThanPartitions has three processors on two partitions:
// one is a member with none, idle, and stays so without ending, until the
// drain stops it like the others.
func TestMoreProcessorsThanPartitions(t *testing.T) {
	k := embeddedGroup(t, 2)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "idle.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	limit := e2e.Bound(t, time.Minute)
	var runs []*roleRun
	for _, id := range []string{"p1", "p2", "p3"} {
		runs = append(runs, startRole(t, Config{Role: RoleProcess, Store: st, Sector: feed.DefaultUniverse().Sector, Kafka: withClient(k, id)}))
	}
	var idle *roleRun
	waitFor(t, limit, "all three members with the partitions shared", func() bool {
		idle = nil
		var assigned []int
		for _, r := range runs {
			s := r.p.Snapshot()
			if s == nil || !s.Joined || len(s.Members) != 3 {
				return false
			}
			if len(s.Assigned) == 0 {
				idle = r
			}
			assigned = append(assigned, s.Assigned...)
		}
		slices.Sort(assigned)
		return idle != nil && slices.Equal(assigned, []int{0, 1})
	})
	// Still a member, still idle, a while later: it did not leave.
	time.Sleep(time.Second)
	if s := idle.p.Snapshot(); !s.Joined || len(s.Assigned) != 0 {
		t.Errorf("idle member: joined %v, assigned %v", s.Joined, s.Assigned)
	}
	var events []string
	for _, e := range idle.p.Snapshot().Events {
		events = append(events, e.Message)
	}
	if !slices.ContainsFunc(events, func(m string) bool { return strings.Contains(m, "idle until a rebalance") }) {
		t.Errorf("the idle member did not say so: %q", events)
	}
	for _, r := range runs {
		r.stop()
	}
	for _, r := range runs {
		if err := r.wait(t, limit); err != nil {
			t.Errorf("processor: %v", err)
		}
	}
}

// TestRolesNeedBrokers refuses a role of part of the pipeline on the
// embedded broker, which no other process can reach.
func TestRolesNeedBrokers(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, cfg := range []Config{
		{Role: RoleIngest, Source: synthetic(t, 1, 1)},
		{Role: RoleProcess, Store: st},
	} {
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), "needs brokers") {
			t.Errorf("%s without brokers: %v", cfg.Role, err)
		}
	}
	if _, err := New(Config{Role: RoleProcess, Kafka: bus.Config{Brokers: []string{"127.0.0.1:1"}}}); err == nil {
		t.Error("a processor without a store was accepted")
	}
	if _, err := New(Config{Role: RoleIngest, Store: st, Kafka: bus.Config{Brokers: []string{"127.0.0.1:1"}}}); err == nil {
		t.Error("an ingest without a source was accepted")
	}
}

// TestRoleAllSharingItsGroup runs two processes of role all in one group,
// the second with its feed paused: the first stores only the trades of its
// own partitions, so its in-flight bound could never drain; it is bounded by
// the group's lag instead, says so, and its whole input is stored once.
func TestRoleAllSharingItsGroup(t *testing.T) {
	const n = 30000
	k := embeddedGroup(t, 6)
	path := filepath.Join(t.TempDir(), "shared.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := feed.DefaultUniverse()
	limit := e2e.Bound(t, time.Minute)
	quiet, err := New(Config{Source: synthetic(t, 22, n), Store: st, Sector: u.Sector, Kafka: withClient(k, "quiet"), LagInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	quiet.Pause()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	quietDone := make(chan error, 1)
	go func() {
		_, err := quiet.Run(ctx)
		quietDone <- err
	}()
	waitFor(t, limit, "the paused process in the group", func() bool {
		s := quiet.Snapshot()
		return s != nil && s.Joined
	})
	busy := startRole(t, Config{Source: synthetic(t, 21, n), Store: st, Sector: u.Sector, Kafka: withClient(k, "busy"), MaxInFlight: 3000})
	var shared bool
	waitFor(t, limit, "the busy process to finish", func() bool {
		if s := busy.p.Snapshot(); s != nil && s.Bound == state.BoundGroupLag && len(s.Members) == 2 {
			shared = true
		}
		select {
		case err := <-busy.done:
			busy.done <- err
			return true
		default:
			return false
		}
	})
	if err := busy.wait(t, limit); err != nil {
		t.Fatalf("busy process: %v", err)
	}
	if !shared {
		t.Error("the busy process never said it was bounded by the group's lag")
	}
	stop()
	select {
	case err := <-quietDone:
		if err != nil {
			t.Fatalf("paused process: %v", err)
		}
	case <-time.After(limit):
		t.Fatal("the paused process did not stop")
	}
	storetest.Check(t, "two processes of role all in one group", storetest.ReadSQLite(t, path),
		storetest.Reference(generated(t, synthetic(t, 21, n)), storetest.Windows{SectorOf: u.Sector}))
}
