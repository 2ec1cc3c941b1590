//go:build unix

package main

// The roles on real Kafka and Cassandra: one ingest and several processors
// sharing a consumer group store exactly what one process of --role all
// stores from the same input, when a processor is killed with SIGKILL and
// another joins midway. The test also measures how long the killed
// member's partitions wait for a new reader, and the throughput of one,
// two and three processors. The measurements are printed, never asserted:
// the machines the tests run on are small and shared.

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/e2e/proc"
	"github.com/tradetop/tradetop/store/storetest"
)

// The pinned input of the roles runs, and the size of the topic the
// throughput runs read.
const (
	rolesSeed      = 37
	rolesCount     = 300_000
	rolesFillCount = 200_000
)

// rolesPoll is how often the test reads the group's committed offsets.
const rolesPoll = 100 * time.Millisecond

// TestRolesShareTheGroupRealClusters runs the pinned input twice on real
// Kafka and Cassandra: once through one process of --role all, once
// through one --role ingest and three --role process sharing a group, of
// which one is killed with SIGKILL when the group has committed a third of
// the input, and a fourth is started when it has committed two thirds. The
// two keyspaces must hold the same rows, table by table (the Kafka offsets
// of the raw trades aside), and the roles' keyspace exactly the reference
// of the input. It measures, and prints, the time from the kill until every
// partition the killed member owned is committed past where it stood, and
// how fast one, two and three processors read a topic filled beforehand.
func TestRolesShareTheGroupRealClusters(t *testing.T) {
	brokers, hosts := faultClusters(t)
	bin := proc.Build(t)
	began := time.Now()
	all := newRolesCluster(t, brokers, hosts, "rolesall_")
	roles := newRolesCluster(t, brokers, hosts, "roles_")
	input := faultInput(t, rolesSeed, rolesCount)
	admin := bus.NewAdmin(bus.Config{Brokers: brokers})
	defer admin.Close()

	// One process of --role all: what the roles must store too.
	ran := time.Now()
	allArgs := append(crashSource(rolesSeed, rolesCount, 0), crashCommon()...)
	allArgs = append(allArgs, all.processArgs(t, all.name)...)
	sum := proc.Start(t, "role all", bin, allArgs...).FinishOK(e2e.Bound(t, 3*time.Minute))
	t.Logf("role all: stored %d trades in %v", sum.StoredTrades, time.Since(ran).Round(time.Millisecond))

	kill := runRoles(t, bin, admin, roles)

	got := storetest.ReadCassandra(t, hosts, roles.name)
	d := storetest.Compare(got, storetest.Reference(input, faultWindows))
	if !d.OK() {
		t.Errorf("the roles' store differs from the reference: doubled=%d lost=%d candles_wrong=%d sector_wrong=%d", d.Doubled, d.Lost, d.CandlesWrong, d.SectorWrong)
		for _, p := range d.Problems[:min(len(d.Problems), 20)] {
			t.Error(p)
		}
	}
	differ := compareKeyspaces(t, hosts, all.name, roles.name)

	tps := measureProcessors(t, bin, admin, brokers, hosts)

	line := fmt.Sprintf("%s dump_rows_differ=%d kill_to_reread_s=%.2f killed_lag=%d tps_1proc=%.0f tps_2proc=%.0f tps_3proc=%.0f",
		d.Figures("1 ingest + 3 processors, one killed -9, one started later"), differ,
		kill.reread.Seconds(), kill.lag, tps[0], tps[1], tps[2])
	t.Log(line)
	storetest.WriteFigures(t, line)
	t.Logf("the test took %v", time.Since(began).Round(time.Second))
}

// rolesKill is what the roles run measured of its kill.
type rolesKill struct {
	// reread is the time from the SIGKILL until every partition the killed
	// member owned was committed past its offset at the kill.
	reread time.Duration
	// lag is the killed member's partitions' lag at the kill.
	lag int64
}

// runRoles runs one ingest and three processors over the pinned input into
// c, kills a processor with SIGKILL at a third, starts another at two
// thirds, stops the rest with SIGTERM once the group has committed all of
// it, and returns what it measured of the kill.
func runRoles(t *testing.T, bin string, admin *bus.Admin, c rolesCluster) rolesKill {
	t.Helper()
	procs := make([]*proc.Proc, 0, 4)
	for i := range 3 {
		procs = append(procs, c.startProcessor(t, bin, fmt.Sprintf("processor %d", i+1), c.name))
	}
	// The feed starts once the three share the partitions, so that the
	// kill finds each with a share of them and a backlog.
	g := waitGroup(t, admin, c.name, c.name, procs)
	t.Logf("the group before the feed: %s", describeGroup(g, procs))
	ingest := c.startIngest(t, bin, c.name, rolesSeed, rolesCount)

	third, twoThirds := int64(rolesCount/3), int64(2*rolesCount/3)
	lag := pollLag(t, admin, c.name, c.name, e2e.Bound(t, 2*time.Minute), "a third of the input committed", func(l groupLag) bool {
		return l.committed >= third
	})

	// The victim: the member whose partitions have the most left to read,
	// the least of them counting.
	g, err := admin.Group(t.Context(), c.name, c.name)
	if err != nil {
		t.Fatal(err)
	}
	lag = mustLag(t, admin, c.name, c.name)
	victim, most := -1, int64(0)
	var parts []int
	for i, p := range procs {
		m, ok := memberOf(g, p)
		if !ok || len(m.Partitions) == 0 {
			continue
		}
		least := int64(-1)
		for _, part := range m.Partitions {
			if l := lag.parts[part].Lag; least < 0 || l < least {
				least = l
			}
		}
		if least > most {
			victim, most, parts = i, least, m.Partitions
		}
	}
	if victim < 0 {
		t.Fatalf("at a third of the input no processor owns a partition with lag: the kill would measure nothing; group %s; lag %+v", describeGroup(g, procs), lag.parts)
	}
	killed := time.Now()
	procs[victim].Kill()
	// Nobody commits the killed member's partitions until the group
	// evicts it: their offsets now are those at the kill.
	atKill := mustLag(t, admin, c.name, c.name)
	var k rolesKill
	for _, part := range parts {
		pl := atKill.parts[part]
		if pl.Lag <= 0 {
			t.Fatalf("partition %d of the killed member has no lag at the kill (%+v): the measure would mean nothing", part, pl)
		}
		k.lag += pl.Lag
	}
	t.Logf("SIGKILL to %s (pid %d), owner of partitions %v, with %d trades committed of %d in Kafka; its partitions at the kill: %s",
		procs[victim].Name, procs[victim].Pid(), parts, atKill.committed, atKill.end, partsLine(atKill, parts))

	// Until the killed member's partitions are committed past the kill,
	// and a fourth processor has started at two thirds.
	deadline := time.Now().Add(e2e.Bound(t, 2*time.Minute))
	for k.reread == 0 || len(procs) < 4 {
		if time.Now().After(deadline) {
			g, _ := admin.Group(t.Context(), c.name, c.name)
			t.Fatalf("%v after the kill: partitions %v reread %v, fourth processor started %v; group %s; lag %+v",
				time.Since(killed).Round(time.Millisecond), parts, k.reread > 0, len(procs) == 4, describeGroup(g, procs), lag.parts)
		}
		time.Sleep(rolesPoll)
		l, err := readLag(t.Context(), admin, c.name, c.name)
		if err != nil {
			t.Logf("reading the group's lag: %v", err)
			continue
		}
		lag = l
		if k.reread == 0 && !slices.ContainsFunc(parts, func(p int) bool { return lag.parts[p].Committed <= atKill.parts[p].Committed }) {
			k.reread = time.Since(killed)
			g, _ := admin.Group(t.Context(), c.name, c.name)
			t.Logf("%v after the kill every partition of the killed member is committed past the kill: %s; group %s",
				k.reread.Round(time.Millisecond), partsLine(lag, parts), describeGroup(g, procs))
		}
		if len(procs) < 4 && lag.committed >= twoThirds {
			t.Logf("%d of %d trades committed, %v after the kill: a fourth processor joins", lag.committed, lag.end, time.Since(killed).Round(time.Millisecond))
			procs = append(procs, c.startProcessor(t, bin, "processor 4", c.name))
		}
	}

	// Until the group has committed everything the ingest produced.
	pollLag(t, admin, c.name, c.name, e2e.Bound(t, 3*time.Minute), "the ingest done and the group's lag 0", func(l groupLag) bool {
		return ingest.Exited() && l.lag == 0
	})
	code, sum := ingest.Finish(time.Minute)
	if code != exitOK || sum.Produced != rolesCount {
		t.Fatalf("ingest: exit code %d, summary %+v: want 0 and %d produced; stderr:\n%s", code, sum, rolesCount, ingest.Tail(40))
	}
	g, err = admin.Group(t.Context(), c.name, c.name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the group's lag is 0 and the ingest has exited 0; group %s", describeGroup(g, procs))
	stopProcessors(t, slices.Delete(procs, victim, victim+1))
	return k
}

// measureProcessors fills a topic with rolesFillCount trades by an ingest
// that exits, then for k = 1, 2, 3 starts k processors at once on a fresh
// group and keyspace and measures the time until the group's committed lag
// is 0. It returns trades/s for each k.
func measureProcessors(t *testing.T, bin string, admin *bus.Admin, brokers, hosts []string) [3]float64 {
	t.Helper()
	var cs [3]rolesCluster
	for i := range cs {
		cs[i] = newRolesCluster(t, brokers, hosts, "rolestp_")
		cs[i].topic = cs[0].name // one topic, read by each group
	}
	const fillSeed = rolesSeed + 1
	fill := cs[0].startIngest(t, bin, cs[0].name+"-fill", fillSeed, rolesFillCount)
	if code, sum := fill.Finish(e2e.Bound(t, 2*time.Minute)); code != exitOK || sum.Produced != rolesFillCount {
		t.Fatalf("fill: exit code %d, summary %+v: want 0 and %d produced; stderr:\n%s", code, sum, rolesFillCount, fill.Tail(40))
	}
	var tps [3]float64
	for i, c := range cs {
		k := i + 1
		procs := make([]*proc.Proc, 0, k)
		start := time.Now()
		for j := range k {
			procs = append(procs, c.startProcessor(t, bin, fmt.Sprintf("throughput %d/%d", j+1, k), c.name))
		}
		var first time.Duration
		pollLag(t, admin, c.name, c.topic, e2e.Bound(t, 2*time.Minute), fmt.Sprintf("%d processors reading the filled topic", k), func(l groupLag) bool {
			if first == 0 && l.committed > 0 {
				first = time.Since(start)
			}
			return l.end == rolesFillCount && l.lag == 0
		})
		took := time.Since(start)
		tps[i] = rolesFillCount / took.Seconds()
		g, err := admin.Group(t.Context(), c.name, c.topic)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d processors: %d trades committed in %v from their start, the first commit after %v: %.0f trades/s; group %s",
			k, rolesFillCount, took.Round(time.Millisecond), first.Round(time.Millisecond), tps[i], describeGroup(g, procs))
		stopProcessors(t, procs)
	}
	// The partitions moved while the processors started, each with much
	// read and not yet stored: every store must still be exact.
	want := storetest.Reference(faultInput(t, fillSeed, rolesFillCount), faultWindows)
	for i, c := range cs {
		d := storetest.Compare(storetest.ReadCassandra(t, hosts, c.name), want)
		t.Logf("%d processors: %s", i+1, d.Figures(fmt.Sprintf("%d processors reading a filled topic", i+1)))
		if !d.OK() {
			t.Errorf("%d processors: the store differs from the reference: %v", i+1, d.Problems[:min(len(d.Problems), 20)])
		}
	}
	return tps
}

// stopProcessors sends SIGTERM to each processor at once and waits for each
// to exit 0.
func stopProcessors(t *testing.T, procs []*proc.Proc) {
	t.Helper()
	for _, p := range procs {
		p.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		code, sum := p.Finish(e2e.Bound(t, 2*time.Minute))
		if code != exitOK {
			t.Errorf("%s (pid %d): exit code %d after SIGTERM, want 0; stderr:\n%s", p.Name, p.Pid(), code, p.Tail(40))
			continue
		}
		t.Logf("%s (pid %d) exited 0 after %v: consumed %d, stored %d, rebuilt %d, duplicates %d, late %d, errors %d",
			p.Name, p.Pid(), time.Since(p.Started()).Round(time.Millisecond), sum.Consumed, sum.StoredTrades, sum.Rebuilt, sum.Duplicates, sum.Late, sum.Errors)
	}
}

// rolesCluster is one keyspace and the topic and group that fill it on
// the real clusters. Topic and group are named after the keyspace unless
// set otherwise.
type rolesCluster struct {
	brokers, hosts []string
	name, topic    string
}

// newRolesCluster makes a fresh keyspace and its topic, deleted and
// dropped when the test ends.
func newRolesCluster(t *testing.T, brokers, hosts []string, prefix string) rolesCluster {
	t.Helper()
	name := storetest.Keyspace(t, hosts, prefix)
	deleteFaultTopics(t, brokers, name, name+".dlq")
	ensureFaultTopics(t, bus.Config{Brokers: brokers, Topic: name, Partitions: 6})
	cassandraFaultStore(t, hosts, name) // the keyspace, made patiently
	return rolesCluster{brokers: brokers, hosts: hosts, name: name, topic: name}
}

// processArgs are the arguments of a run that stores into c's keyspace,
// reading c's topic in group.
func (c rolesCluster) processArgs(t *testing.T, group string) []string {
	return []string{"--brokers", strings.Join(c.brokers, ","), "--cassandra", strings.Join(c.hosts, ","),
		"--keyspace", c.name, "--topic", c.topic, "--group", group, "--drain-timeout", "1m", "--data-dir", t.TempDir()}
}

// startProcessor starts a --role process in group.
func (c rolesCluster) startProcessor(t *testing.T, bin, name, group string) *proc.Proc {
	t.Helper()
	args := append([]string{"--role", "process"}, crashCommon()...)
	return proc.Start(t, name, bin, append(args, c.processArgs(t, group)...)...)
}

// startIngest starts a --role ingest of the pinned feed into c's topic,
// bounded by group's lag.
func (c rolesCluster) startIngest(t *testing.T, bin, group string, seed, count int64) *proc.Proc {
	t.Helper()
	args := []string{"--role", "ingest", "--no-ui", "--status-interval", "500ms", "--summary", "json",
		"--brokers", strings.Join(c.brokers, ","), "--topic", c.topic, "--group", group, "--data-dir", t.TempDir()}
	return proc.Start(t, "ingest", bin, append(args, crashSource(seed, count, 0)...)...)
}

// groupLag is one read of a group's committed offsets.
type groupLag struct {
	parts map[int]bus.PartitionLag
	// committed, end and lag are summed over the partitions; committed
	// counts none as 0.
	committed, end, lag int64
}

func readLag(ctx context.Context, admin *bus.Admin, group, topic string) (groupLag, error) {
	ls, err := admin.Lag(ctx, group, topic)
	if err != nil {
		return groupLag{}, err
	}
	out := groupLag{parts: make(map[int]bus.PartitionLag, len(ls))}
	for _, l := range ls {
		out.parts[l.Partition] = l
		out.committed += max(l.Committed, 0)
		out.end += l.End
		out.lag += l.Lag
	}
	return out, nil
}

func mustLag(t *testing.T, admin *bus.Admin, group, topic string) groupLag {
	t.Helper()
	l, err := readLag(t.Context(), admin, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// pollLag reads the group's lag every rolesPoll until ok says yes, for at
// most limit, and returns the read ok took; past limit it fails the test,
// saying it waited for what.
func pollLag(t *testing.T, admin *bus.Admin, group, topic string, limit time.Duration, what string, ok func(groupLag) bool) groupLag {
	t.Helper()
	var last groupLag
	var lastErr error
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(rolesPoll) {
		l, err := readLag(t.Context(), admin, group, topic)
		if err != nil {
			lastErr = err // a coordinator that moves; read again
			continue
		}
		if last = l; ok(l) {
			return l
		}
	}
	t.Fatalf("not %s within %v: committed %d of %d, lag %d (last error: %v)", what, limit, last.committed, last.end, last.lag, lastErr)
	return last
}

// waitGroup waits until the group is stable with one member for each of
// procs, each owning partitions, and returns it.
func waitGroup(t *testing.T, admin *bus.Admin, group, topic string, procs []*proc.Proc) bus.Group {
	t.Helper()
	limit := e2e.Bound(t, time.Minute)
	var g bus.Group
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(rolesPoll) {
		var err error
		if g, err = admin.Group(t.Context(), group, topic); err != nil {
			continue
		}
		ready := g.State == "Stable" && len(g.Members) == len(procs)
		for _, p := range procs {
			m, ok := memberOf(g, p)
			ready = ready && ok && len(m.Partitions) > 0
		}
		if ready {
			return g
		}
	}
	t.Fatalf("the group is not stable with %d members owning partitions within %v: %s", len(procs), limit, describeGroup(g, procs))
	return g
}

// memberOf is p's member of g, known by its client ID
// (tradetop-<role>-<host>-<pid>).
func memberOf(g bus.Group, p *proc.Proc) (bus.Member, bool) {
	suffix := "-" + strconv.Itoa(p.Pid())
	for _, m := range g.Members {
		if strings.HasSuffix(m.ClientID, suffix) {
			return m, true
		}
	}
	return bus.Member{}, false
}

// describeGroup says which of procs owns which partitions in g.
func describeGroup(g bus.Group, procs []*proc.Proc) string {
	var b strings.Builder
	b.WriteString(g.State)
	for _, m := range g.Members {
		name := m.ClientID
		for _, p := range procs {
			if strings.HasSuffix(m.ClientID, "-"+strconv.Itoa(p.Pid())) {
				name = p.Name
			}
		}
		fmt.Fprintf(&b, "; %s: %v", name, m.Partitions)
	}
	return b.String()
}

// partsLine writes the committed offset and lag of parts.
func partsLine(l groupLag, parts []int) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = fmt.Sprintf("%d committed %d lag %d", p, l.parts[p].Committed, l.parts[p].Lag)
	}
	return strings.Join(s, ", ")
}

// rolesTables are the queries of the tables compared row by row: every
// column, but the Kafka offset of the raw trades, which depends on how the
// producer interleaved the partition's symbols.
var rolesTables = []struct{ table, columns string }{
	{"trades", "trade_id, symbol, day, ts, ns, price, volume, kafka_partition"},
	{"candles", "*"},
	{"candle_days", "*"},
	{"sector_volume", "*"},
	{"trade_index", "*"},
}

// compareKeyspaces dumps the tables of keyspaces a and b and fails the
// test unless they hold the same rows. It returns the number of rows that
// are in one and not the other.
func compareKeyspaces(t *testing.T, hosts []string, a, b string) int {
	t.Helper()
	s := storetest.Session(t, hosts)
	defer s.Close()
	differ := 0
	for _, tb := range rolesTables {
		cols, rowsA := cqlDump(t, s, "SELECT "+tb.columns+" FROM "+a+"."+tb.table)
		_, rowsB := cqlDump(t, s, "SELECT "+tb.columns+" FROM "+b+"."+tb.table)
		onlyA, onlyB := sortedDiff(rowsA, rowsB)
		differ += len(onlyA) + len(onlyB)
		t.Logf("%s: %d rows of role all, %d of the roles, %d only in role all, %d only in the roles", tb.table, len(rowsA), len(rowsB), len(onlyA), len(onlyB))
		if len(onlyA)+len(onlyB) == 0 {
			continue
		}
		rounding := roundingPairs(onlyA, onlyB)
		t.Errorf("%s differs between role all (%s) and the roles (%s): %d rows of each differ only in the last bits of a double (a sum taken in another order), %d rows otherwise; columns %s",
			tb.table, a, b, rounding, len(onlyA)+len(onlyB)-2*rounding, cols)
		for _, r := range onlyA[:min(len(onlyA), 10)] {
			t.Errorf("  only in role all: %s", r)
		}
		for _, r := range onlyB[:min(len(onlyB), 10)] {
			t.Errorf("  only in the roles: %s", r)
		}
	}
	return differ
}

// cqlDump returns the column names of query and its rows, each written as
// its values in full (doubles to the last bit, times in UTC to the
// nanosecond), sorted.
func cqlDump(t *testing.T, s *gocql.Session, query string) (string, []string) {
	t.Helper()
	iter := s.Query(query).PageSize(5000).Iter()
	rd, err := iter.RowData()
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var rows []string
	fields := make([]string, len(rd.Values))
	for iter.Scan(rd.Values...) {
		for i, v := range rd.Values {
			fields[i] = cqlValue(v)
		}
		rows = append(rows, strings.Join(fields, "|"))
	}
	if err := iter.Close(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	slices.Sort(rows)
	return strings.Join(rd.Columns, "|"), rows
}

// cqlValue writes the value that a pointer from gocql's RowData points to.
func cqlValue(ptr any) string {
	switch v := reflect.ValueOf(ptr).Elem().Interface().(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// sortedDiff returns the rows of sorted a not in sorted b, and of b not
// in a, as multisets.
func sortedDiff(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := strings.Compare(a[i], b[j]); {
		case c == 0:
			i++
			j++
		case c < 0:
			onlyA = append(onlyA, a[i])
			i++
		default:
			onlyB = append(onlyB, b[j])
			j++
		}
	}
	return append(onlyA, a[i:]...), append(onlyB, b[j:]...)
}

// roundingPairs counts the rows of onlyA that have a row in onlyB equal to
// them but for doubles that differ in their last bits, each row of onlyB
// taken once.
func roundingPairs(onlyA, onlyB []string) int {
	taken := make([]bool, len(onlyB))
	n := 0
	for _, a := range onlyA[:min(len(onlyA), 2000)] {
		for j, b := range onlyB[:min(len(onlyB), 2000)] {
			if !taken[j] && nearlySame(a, b) {
				taken[j] = true
				n++
				break
			}
		}
	}
	return n
}

// nearlySame reports whether dumped rows a and b have the same fields but
// for numbers within a relative 1e-12 of each other.
func nearlySame(a, b string) bool {
	fa, fb := strings.Split(a, "|"), strings.Split(b, "|")
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i] == fb[i] {
			continue
		}
		x, errX := strconv.ParseFloat(fa[i], 64)
		y, errY := strconv.ParseFloat(fb[i], 64)
		if errX != nil || errY != nil || math.Abs(x-y) > 1e-12*math.Max(math.Abs(x), math.Abs(y)) {
			return false
		}
	}
	return true
}
