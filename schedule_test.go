//go:build unix

package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tradetop/tradetop/e2e/proc"
	"github.com/tradetop/tradetop/store/storetest"
)

// scheduleMinutes is how long TestFaultSchedule applies faults. CI runs the
// default; a long run is asked for with -schedule-minutes 20 and repeated
// with the seed it prints (TRADETOP_FAULT_SEED).
var scheduleMinutes = flag.Float64("schedule-minutes", 1.5, "how long TestFaultSchedule applies faults")

// scheduleProcesses, when set, is how many processes TestFaultSchedule
// runs; by default the seed chooses one to three.
var scheduleProcesses = flag.Int("schedule-processes", 0, "processes of TestFaultSchedule, 1 to 3 (default: chosen by the seed)")

// scheduleRate is the pinned feed's rate in each process, in trades/s.
const scheduleRate = 1000

// TestFaultSchedule is a randomized fault schedule on the dev stack: one to
// three processes in one consumer group run the same pinned input against
// real Kafka and Cassandra, and at random moments one of them is killed
// with SIGKILL, stopped with SIGTERM, paused with SIGSTOP (long enough, at
// times, for the group to give its partitions to another) and resumed, or
// started again, or Kafka or Cassandra is stopped and started. Every
// process produces the input from its start, so each trade reaches Kafka
// many times. At the end a last process drains what is in Kafka; the store
// must then hold exactly what reached Kafka (crashReference): lost=0,
// doubled=0, every candle and sector window exact.
//
// It stops dev stack servers, so it runs with the outage tests
// (TRADETOP_E2E_FAULTS=1). The schedule comes from one seed, printed, and
// TRADETOP_FAULT_SEED repeats it (the moments are the same; what the
// processes have done by then varies with the machine).
func TestFaultSchedule(t *testing.T) {
	brokers, hosts := outageStack(t)
	bin := proc.Build(t)
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	span := time.Duration(*scheduleMinutes * float64(time.Minute))
	ks := outageKeyspace(t, hosts, "sched_")
	outageTopics(t, brokers, ks)

	// Enough input that no process reaches its end within the schedule.
	const inputSeed = 41
	count := int64(scheduleRate * (span.Seconds() + 120))
	input := faultInput(t, inputSeed, count)
	final, marker := drainOnly(t, input)
	common := append(crashCommon(), "--brokers", brokers, "--cassandra", hosts,
		"--keyspace", ks, "--topic", ks, "--group", ks, "--drain-timeout", "30s")
	args := append(crashSource(inputSeed, count, scheduleRate), common...)

	s := &schedule{t: t, bin: bin, rng: rng, args: args, dir: t.TempDir(), start: time.Now()}
	n := 1 + rng.IntN(3)
	if *scheduleProcesses > 0 {
		n = *scheduleProcesses
	}
	s.slots = make([]*proc.Proc, n)
	s.logf("%d processes, %s of faults", len(s.slots), span)
	for i := range s.slots {
		s.startSlot(i)
	}
	for time.Since(s.start) < span {
		s.sleep(time.Second, 6*time.Second)
		s.step()
	}
	// The end: every process killed where it stands, then one drains.
	for i, p := range s.slots {
		if p != nil && !p.Exited() {
			p.Kill()
			s.logf("slot %d: SIGKILL (end of the schedule)", i)
		}
	}
	s.logf("faults applied: %s", s.tally())
	dir := filepath.Join(s.dir, "drain")
	sum := proc.Start(t, "draining run", bin, append(append(final, common...), "--data-dir", dir)...).FinishOK(5 * time.Minute)
	t.Logf("draining run summary: %+v", sum)

	got := storetest.ReadCassandra(t, strings.Split(hosts, ","), ks)
	d := storetest.Check(t, "randomized fault schedule (Kafka + Cassandra)", got, storetest.Reference(crashReference(t, input, got, marker), faultWindows))
	line := fmt.Sprintf("schedule: seed=%d minutes=%.1f processes=%d faults=%q ok=%t", seed, span.Minutes(), len(s.slots), s.tally(), d.OK())
	t.Log(line)
	storetest.WriteFigures(t, line)
}

// schedule is the state of a fault schedule: a process per slot, or nil.
type schedule struct {
	t     *testing.T
	bin   string
	rng   *rand.Rand
	args  []string
	dir   string
	start time.Time
	slots []*proc.Proc
	runs  int
	count map[string]int
	queue []string // faults still to come once each; "" once they have
}

func (s *schedule) logf(format string, args ...any) {
	s.t.Helper()
	s.t.Logf("+%s "+format, append([]any{time.Since(s.start).Round(100 * time.Millisecond)}, args...)...)
}

// sleep waits a random time from lo to hi.
func (s *schedule) sleep(lo, hi time.Duration) {
	time.Sleep(lo + time.Duration(s.rng.Int64N(int64(hi-lo))))
}

func (s *schedule) note(fault string) {
	if s.count == nil {
		s.count = map[string]int{}
	}
	s.count[fault]++
}

// tally says how many of each fault were applied.
func (s *schedule) tally() string {
	var parts []string
	for _, f := range []string{"kill", "term", "pause", "start", "kafka", "cassandra"} {
		parts = append(parts, f+"="+strconv.Itoa(s.count[f]))
	}
	return strings.Join(parts, " ")
}

// startSlot starts a process in slot i, on its own data directory.
func (s *schedule) startSlot(i int) {
	s.runs++
	dir := filepath.Join(s.dir, "slot"+strconv.Itoa(i))
	s.slots[i] = proc.Start(s.t, fmt.Sprintf("slot %d run %d", i, s.runs), s.bin, append(slices.Clone(s.args), "--data-dir", dir)...)
}

// running returns the slots whose process runs, noting those that ended by
// themselves.
func (s *schedule) running() []int {
	var idx []int
	for i, p := range s.slots {
		switch {
		case p == nil:
		case p.Exited():
			s.logf("slot %d ended by itself, exit %d; its last lines:\n%s", i, p.ExitCode(), p.Tail(40))
			s.slots[i] = nil
		default:
			idx = append(idx, i)
		}
	}
	return idx
}

// faultKinds are the faults a schedule applies. Each comes once, in a
// random order, before any comes again, so that a short schedule applies
// them all; then they come at random, the outages of a server (which take
// half a minute to recover from) more rarely.
var faultKinds = []string{"kill", "term", "pause", "start", "kafka", "cassandra"}

// next returns the fault to apply next.
func (s *schedule) next() string {
	if s.queue == nil {
		for _, i := range s.rng.Perm(len(faultKinds)) {
			s.queue = append(s.queue, faultKinds[i])
		}
	}
	if len(s.queue) > 0 && s.queue[0] != "" {
		k := s.queue[0]
		s.queue = append(s.queue[1:], "") // never nil again
		return k
	}
	switch r := s.rng.IntN(100); {
	case r < 28:
		return "kill"
	case r < 43:
		return "term"
	case r < 63:
		return "pause"
	case r < 88:
		return "start"
	case r < 94:
		return "kafka"
	default:
		return "cassandra"
	}
}

// step applies the next fault. A fault on a process picks one of those
// running; with none running, or a start with every slot taken, the
// process is started, or killed first.
func (s *schedule) step() {
	t := s.t
	kind := s.next()
	run := s.running()
	var empty []int
	for i, p := range s.slots {
		if p == nil {
			empty = append(empty, i)
		}
	}
	if len(run) == 0 && kind != "kafka" && kind != "cassandra" {
		kind = "start"
	}
	if kind == "start" && len(empty) == 0 {
		i := run[s.rng.IntN(len(run))]
		s.logf("slot %d: SIGKILL, to start it again", i)
		s.note("kill")
		s.slots[i].Kill()
		s.slots[i] = nil
		empty = []int{i}
	}
	var pick int
	var p *proc.Proc
	if len(run) > 0 {
		pick = run[s.rng.IntN(len(run))]
		p = s.slots[pick]
	}
	s.note(kind)
	switch kind {
	case "kill":
		s.logf("slot %d: SIGKILL", pick)
		p.Kill()
		s.slots[pick] = nil
	case "term":
		s.logf("slot %d: SIGTERM", pick)
		p.Signal(syscall.SIGTERM)
		if p.WaitExit(2 * time.Minute) {
			s.logf("slot %d: exit %d after SIGTERM", pick, p.ExitCode())
		} else {
			t.Errorf("slot %d: still running two minutes after SIGTERM; its last lines:\n%s", pick, p.Tail(40))
			p.Kill()
		}
		s.slots[pick] = nil
	case "pause":
		// Past the group's session timeout (10s) at times: the group gives
		// the partitions to another member, and the paused one wakes to
		// find them gone, with a batch it may still write.
		d := 2*time.Second + time.Duration(s.rng.Int64N(int64(16*time.Second)))
		s.logf("slot %d: SIGSTOP for %s", pick, d.Round(100*time.Millisecond))
		p.Signal(syscall.SIGSTOP)
		time.Sleep(d)
		p.Signal(syscall.SIGCONT)
	case "start":
		i := empty[s.rng.IntN(len(empty))]
		s.logf("slot %d: start", i)
		s.startSlot(i)
	case "kafka", "cassandra":
		s.outage(kind)
	}
}

// outage stops server for a random 3 to 20 seconds and starts it again.
func (s *schedule) outage(server string) {
	d := 3*time.Second + time.Duration(s.rng.Int64N(int64(17*time.Second)))
	s.logf("%s: stop for %s", server, d.Round(100*time.Millisecond))
	stopped := true
	s.t.Cleanup(func() {
		if stopped {
			runDevstack(s.t, "up")
		}
	})
	runDevstack(s.t, "stop", server)
	time.Sleep(d)
	runDevstack(s.t, "up")
	stopped = false
	s.logf("%s: up again", server)
}
