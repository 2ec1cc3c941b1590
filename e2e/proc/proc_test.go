package proc

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv names the mode in which the test binary, started by a test
// as a run of its own, plays the command.
const helperEnv = "PROC_TEST_HELPER"

// TestHelperProcess is the command the tests of Start run: it does what
// helperEnv says, then exits. Without helperEnv it does nothing.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	os.Exit(fakeRun(mode, os.Stdout, os.Stderr))
}

// fakeRun plays the command: "count" logs five status lines and a summary
// and exits 0; "term" logs a status line and waits for SIGTERM, then says
// it stops and exits 3; "hang" logs a status line and waits forever.
func fakeRun(mode string, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	switch mode {
	case "count":
		for i := range int64(5) {
			log.Info("status", "kafka", "ok", "produced", 100*(i+1), "stored", 100*i)
			time.Sleep(20 * time.Millisecond)
		}
		fmt.Fprintln(stdout, `{"produced":500,"stored_trades":500}`)
		fmt.Fprint(stderr, "tradetop: done, without a newline")
		return 0
	case "term":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		log.Info("status", "produced", 1, "stored", 1)
		<-sig
		log.Info("stopping: draining")
		return 3
	case "hang":
		log.Info("status", "produced", 1, "stored", 0)
		select {}
	}
	return 2
}

func startHelper(t *testing.T, mode string) *Proc {
	t.Setenv(helperEnv, mode)
	return Start(t, mode, os.Args[0], "-test.run=^TestHelperProcess$")
}

func TestStartFuncReadsTheRunAsItGoes(t *testing.T) {
	p := StartFunc(t, "run", func(args []string, stdout, stderr io.Writer) int {
		if strings.Join(args, " ") != "--no-ui --count 500" {
			return 2
		}
		return fakeRun("count", stdout, stderr)
	}, "--no-ui", "--count", "500")
	s, ok := p.WaitStatus(0, time.Minute, func(s Line) bool { return s.Int("stored") >= 200 })
	if !ok || s.Int("produced") != 300 || s.Attrs["kafka"] != "ok" {
		t.Fatalf("status %+v, %v; stderr:\n%s", s, ok, p.Stderr())
	}
	from := p.Mark()
	if next, ok := p.WaitStatus(from, time.Minute, func(Line) bool { return true }); !ok || next.Int("stored") != 300 {
		t.Errorf("the status line after the mark: %+v, %v", next, ok)
	}
	sum := p.FinishOK(time.Minute)
	if sum.Produced != 500 || sum.StoredTrades != 500 || p.ExitCode() != 0 {
		t.Errorf("summary %+v, exit %d", sum, p.ExitCode())
	}
	if last, ok := p.LastStatus(); !ok || last.Int("stored") != 400 {
		t.Errorf("last status %+v", last)
	}
	if len(p.Log()) != 5 || len(p.Lines()) != 6 || p.Count("msg=status") != 5 {
		t.Errorf("%d slog lines, %d lines, %d status lines; want 5, 6 (the last one unfinished) and 5:\n%s",
			len(p.Log()), len(p.Lines()), p.Count("msg=status"), p.Stderr())
	}
	if tail := p.Tail(1); tail != "tradetop: done, without a newline" {
		t.Errorf("tail %q", tail)
	}
	if p.Pid() != os.Getpid() {
		t.Errorf("pid %d, want this process's", p.Pid())
	}
}

func TestWaitGivesUpWhenTheRunEnds(t *testing.T) {
	p := StartFunc(t, "run", func(_ []string, _, stderr io.Writer) int {
		fmt.Fprintln(stderr, "tradetop: no such flag")
		return 2
	})
	began := time.Now()
	if _, ok := p.WaitStatus(0, time.Minute, func(Line) bool { return true }); ok {
		t.Error("a status line from a run that wrote none")
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("waited %v for a run that had ended", d)
	}
	if code, sum := p.Finish(time.Minute); code != 2 || sum.Produced != 0 {
		t.Errorf("exit %d, summary %+v; want 2 and none", code, sum)
	}
}

func TestStartRunsTheBinary(t *testing.T) {
	p := startHelper(t, "count")
	if _, ok := p.WaitStatus(0, time.Minute, func(s Line) bool { return s.Int("stored") > 0 }); !ok {
		t.Fatalf("no stored trades; stderr:\n%s", p.Stderr())
	}
	if sum := p.FinishOK(time.Minute); sum.StoredTrades != 500 {
		t.Errorf("summary %+v", sum)
	}
	if p.Pid() == os.Getpid() || p.Count("status") != 5 {
		t.Errorf("pid %d, %d status lines:\n%s", p.Pid(), p.Count("status"), p.Stderr())
	}
	if !strings.HasSuffix(p.Stderr(), "tradetop: done, without a newline\n") {
		t.Errorf("the unfinished last line is lost:\n%s", p.Stderr())
	}
}

func TestStartDropsTheCommandsVariables(t *testing.T) {
	t.Setenv("TRADETOP_RATE", "7")
	t.Setenv("PROC_TEST_KEPT", "1")
	env := environ()
	if !slices.Contains(env, "PROC_TEST_KEPT=1") {
		t.Error("the test's other variables are not passed on")
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "TRADETOP_") {
			t.Errorf("%s is passed on", kv)
		}
	}
}

func TestSignalAndKill(t *testing.T) {
	p := startHelper(t, "term")
	if _, ok := p.WaitStatus(0, time.Minute, func(Line) bool { return true }); !ok {
		t.Fatalf("no status line; stderr:\n%s", p.Stderr())
	}
	from := p.Mark()
	p.Signal(syscall.SIGTERM)
	if _, ok := p.WaitLine(from, time.Minute, func(l Line) bool { return strings.HasPrefix(l.Msg, "stopping") }); !ok {
		t.Errorf("no line after SIGTERM; stderr:\n%s", p.Stderr())
	}
	if code, _ := p.Finish(time.Minute); code != 3 {
		t.Errorf("exit %d after SIGTERM, want 3", code)
	}

	h := startHelper(t, "hang")
	if h.WaitExit(100 * time.Millisecond) {
		t.Fatalf("the hanging run ended; stderr:\n%s", h.Stderr())
	}
	h.Kill()
	if !h.Exited() || h.ExitCode() != -1 {
		t.Errorf("exited %v with %d after SIGKILL, want -1", h.Exited(), h.ExitCode())
	}
}
