// Package proc runs tradetop for the end-to-end tests and reads what it
// says. A Proc is one run: the built binary in a process of its own
// (Start), or the command's run function in the test's process
// (StartFunc). Either way its stderr is split into lines as they come,
// which the test waits on and parses as slog's text handler writes them
// (Line), and its stdout is kept for the JSON summary.
package proc

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/pipeline"
)

// Func runs the command with args, writing its stdout and stderr, and
// returns its exit code: package main's run, with the environment the test
// gives it.
type Func func(args []string, stdout, stderr io.Writer) int

// Proc is one run of tradetop started by a test. Its methods may be called
// from any goroutine, and by several at once; those that fail the test
// (Signal, Kill, Finish, FinishOK) only from the test's own.
type Proc struct {
	// Name names the run in the test's log and in failure messages.
	Name string

	t       testing.TB
	cmd     *exec.Cmd // nil for a run in the test's process
	started time.Time
	stdout  e2e.Buffer
	done    chan struct{} // closed when the run has ended
	code    int           // the exit code, set before done is closed

	mu      sync.Mutex
	lines   []string      // the stderr lines so far
	partial []byte        // the unfinished last line
	changed chan struct{} // closed and replaced at each new line, and at the end
}

func newProc(t testing.TB, name string) *Proc {
	return &Proc{Name: name, t: t, started: time.Now(), done: make(chan struct{}), changed: make(chan struct{})}
}

// Start runs the binary bin with args in a process of its own, with the
// test's environment less the TRADETOP_ variables, which would change its
// flags. The process is killed when the test ends, if it still runs.
func Start(t testing.TB, name, bin string, args ...string) *Proc {
	t.Helper()
	p := newProc(t, name)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = environ()
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = stderr{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Logf("%s: pid %d: tradetop %s", name, p.cmd.Process.Pid, strings.Join(args, " "))
	go func() {
		_ = p.cmd.Wait() // the exit code says how it ended
		p.end(p.cmd.ProcessState.ExitCode())
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.saveLog()
	})
	return p
}

// StartFunc runs run with args in a goroutine of the test's process. Such
// a run cannot be signalled or killed: it must end by itself (--duration,
// --count, the end of its feed).
func StartFunc(t testing.TB, name string, run Func, args ...string) *Proc {
	t.Helper()
	p := newProc(t, name)
	t.Logf("%s: in this process: tradetop %s", name, strings.Join(args, " "))
	go func() { p.end(run(args, &p.stdout, stderr{p})) }()
	t.Cleanup(func() {
		if !p.Exited() {
			t.Logf("%s did not end", name)
		}
		p.saveLog()
	})
	return p
}

// environ is the test's environment without the command's TRADETOP_
// variables.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRADETOP_") {
			env = append(env, kv)
		}
	}
	return env
}

// stderr splits what the run writes to its stderr into lines.
type stderr struct{ p *Proc }

func (w stderr) Write(b []byte) (int, error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	fresh := false
	for {
		i := slices.Index(p.partial, '\n')
		if i < 0 {
			break
		}
		p.lines = append(p.lines, string(p.partial[:i]))
		p.partial = p.partial[i+1:]
		fresh = true
	}
	if fresh {
		p.wake()
	}
	return len(b), nil
}

// wake tells the waiters that something changed. p.mu is held.
func (p *Proc) wake() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// end records the run's end, its unfinished last line as a line.
func (p *Proc) end(code int) {
	p.mu.Lock()
	if len(p.partial) > 0 {
		p.lines = append(p.lines, string(p.partial))
		p.partial = nil
	}
	p.code = code
	close(p.done)
	p.wake()
	p.mu.Unlock()
}

// saveLog writes the whole stderr of a failed test's run to a file, and
// logs its name.
func (p *Proc) saveLog() {
	if !p.t.Failed() {
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(p.t.Name() + "-" + p.Name)
	f, err := os.CreateTemp("", "tradetop-"+name+"-*.log")
	if err != nil {
		return
	}
	_, err = f.WriteString(p.Stderr())
	if f.Close() == nil && err == nil {
		p.t.Logf("%s: its whole stderr: %s", p.Name, f.Name())
	}
}

// Started is when the run was started.
func (p *Proc) Started() time.Time { return p.started }

// Pid is the run's process ID: the test's own for a run in its process.
func (p *Proc) Pid() int {
	if p.cmd == nil {
		return os.Getpid()
	}
	return p.cmd.Process.Pid
}

// Exited reports whether the run has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the run's exit code once it has ended, -1 before (and for a
// process ended by a signal).
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.code
}

// WaitExit waits at most limit for the run to end, and reports whether it
// has.
func (p *Proc) WaitExit(limit time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(limit):
		return false
	}
}

// Stdout is what the run wrote to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Lines returns the stderr lines so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// Stderr is the stderr lines so far, each ended by a newline.
func (p *Proc) Stderr() string {
	var b strings.Builder
	for _, l := range p.Lines() {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// Tail is the last n stderr lines, for failure messages.
func (p *Proc) Tail(n int) string {
	lines := p.Lines()
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Count is the number of stderr lines that contain substr.
func (p *Proc) Count(substr string) int {
	n := 0
	for _, l := range p.Lines() {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// Log is the stderr lines so far that are slog's, parsed.
func (p *Proc) Log() []Line {
	var out []Line
	for _, raw := range p.Lines() {
		if l, ok := ParseLine(raw); ok {
			out = append(out, l)
		}
	}
	return out
}

// LastStatus is the last status line so far.
func (p *Proc) LastStatus() (Line, bool) {
	lines := p.Lines()
	for i := len(lines) - 1; i >= 0; i-- {
		if l, ok := ParseLine(lines[i]); ok && l.Msg == "status" {
			return l, true
		}
	}
	return Line{}, false
}

// Mark is the number of stderr lines so far: waiting from it sees only
// the lines that come after.
func (p *Proc) Mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// WaitLine waits at most limit for a slog line, from the mark from on, for
// which ok is true, and returns it. It gives up early, returning false,
// once the run has ended and every line was seen.
func (p *Proc) WaitLine(from int, limit time.Duration, ok func(Line) bool) (Line, bool) {
	var found Line
	seen := p.scan(from, limit, func(raw string) bool {
		l, isLog := ParseLine(raw)
		if isLog && ok(l) {
			found = l
			return true
		}
		return false
	})
	return found, seen
}

// WaitStatus is WaitLine for status lines.
func (p *Proc) WaitStatus(from int, limit time.Duration, ok func(Line) bool) (Line, bool) {
	return p.WaitLine(from, limit, func(l Line) bool { return l.Msg == "status" && ok(l) })
}

// scan calls ok with each stderr line from the mark from on, until it
// returns true, the run has ended and every line was seen, or limit has
// passed. It reports whether ok returned true.
func (p *Proc) scan(from int, limit time.Duration, ok func(line string) bool) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for seen := from; ; {
		ended := p.Exited()
		p.mu.Lock()
		fresh := slices.Clone(p.lines[min(seen, len(p.lines)):])
		changed := p.changed
		p.mu.Unlock()
		seen += len(fresh)
		for _, l := range fresh {
			if ok(l) {
				return true
			}
		}
		if ended {
			return false
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

// Signal sends sig to the run's process. A run in the test's process
// cannot be signalled: that fails the test.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if p.cmd == nil {
		p.t.Fatalf("%s runs in this process: it cannot be sent %v", p.Name, sig)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: %v: %v", p.Name, sig, err)
	}
	p.t.Logf("%s: sent %v", p.Name, sig)
}

// Kill sends SIGKILL to the run's process and waits for it to end.
func (p *Proc) Kill() {
	p.t.Helper()
	p.Signal(os.Kill)
	if !p.WaitExit(30 * time.Second) {
		p.t.Fatalf("%s: still running 30s after SIGKILL", p.Name)
	}
}

// Summary is the JSON summary the run printed on stdout (--summary json).
func (p *Proc) Summary() (pipeline.Summary, error) {
	var sum pipeline.Summary
	out := strings.TrimSpace(p.Stdout())
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		return sum, fmt.Errorf("summary %q: %w", out, err)
	}
	return sum, nil
}

// Finish waits at most limit for the run to end and returns its exit code
// and JSON summary (zero if it printed none). Past limit it kills the
// process and fails the test; a run in the test's process cannot be
// killed, and is left.
func (p *Proc) Finish(limit time.Duration) (int, pipeline.Summary) {
	p.t.Helper()
	if !p.WaitExit(limit) {
		if p.cmd == nil {
			p.t.Fatalf("%s: still running after %v. stderr:\n%s", p.Name, limit, p.Tail(40))
		}
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%s: still running after %v; killed. stderr:\n%s", p.Name, limit, p.Tail(40))
	}
	var sum pipeline.Summary
	if strings.TrimSpace(p.Stdout()) != "" {
		var err error
		if sum, err = p.Summary(); err != nil {
			p.t.Errorf("%s: %v", p.Name, err)
		}
	}
	return p.code, sum
}

// FinishOK is Finish for a run that must exit 0 having stored every trade
// it produced.
func (p *Proc) FinishOK(limit time.Duration) pipeline.Summary {
	p.t.Helper()
	code, sum := p.Finish(limit)
	if code != 0 {
		p.t.Fatalf("%s: exit code %d, want 0; stderr:\n%s", p.Name, code, p.Tail(40))
	}
	if sum.Produced == 0 || sum.StoredTrades < sum.Produced {
		p.t.Errorf("%s: summary %+v: want every produced trade stored", p.Name, sum)
	}
	return sum
}
