package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tradetop/tradetop/auth/authtest"
	"github.com/tradetop/tradetop/e2e/proc"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/remote"
	"github.com/tradetop/tradetop/state"
)

// getSnapshot reads the service's latest snapshot from its API, nil when it
// does not answer.
func getSnapshot(t *testing.T, addr string) *state.Snapshot {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/api/v1/snapshot")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var s state.Snapshot
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &s) != nil {
		return nil
	}
	return &s
}

// waitSnapshot polls the service's snapshot until ok says yes.
func waitSnapshot(t *testing.T, addr, what string, ok func(*state.Snapshot) bool) *state.Snapshot {
	t.Helper()
	for range 600 {
		if s := getSnapshot(t, addr); s != nil && ok(s) {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waited 60s for the service's %s", what)
	return nil
}

// TestAttachFollowsTheService runs a headless service with --listen and
// `tradetop attach` in a tmux pane, as the README says: the viewer shows
// the live dashboard; its p pauses the service's feed; kill -9 of the
// service leaves the viewer up saying since when it is disconnected; the
// restarted service's new run shows without a restart of the viewer; its Q
// and y stop the service, whose summary counts the pause; q then leaves
// the viewer with exit 0. A viewer without the token is read-only: its p
// is refused and changes nothing.
func TestAttachFollowsTheService(t *testing.T) {
	bin := proc.Build(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("attach-test-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	args := []string{"--no-ui", "--listen", addr, "--control-token-file", tokenFile, "--data-dir", filepath.Join(dir, "data"),
		"--rate", "200", "--status-interval", "1s", "--summary", "json"}
	svc := proc.Start(t, "service", bin, args...)
	first := waitSnapshot(t, addr, "first snapshot", func(s *state.Snapshot) bool { return s.Produced > 0 })

	v := startTmuxIn(t, filepath.Join(dir, "viewer"), 120, 40, bin, "attach", "--control-token-file", tokenFile, "http://"+addr)
	v.waitFor("the live dashboard", 20*time.Second, has("tradetop", "Symbols", "AAPL", "Sector volume", "rate 200/s", "● feed ok"))
	if strings.Contains(v.capture(), "read-only") {
		t.Fatalf("a viewer with the token says read-only:\n%s", v.capture())
	}

	ro := startTmuxIn(t, filepath.Join(dir, "readonly"), 100, 30, bin, "attach", "http://"+addr)
	ro.waitFor("the read-only dashboard", 20*time.Second, has("tradetop", "AAPL", "read-only"))
	ro.keys("p")
	ro.waitFor("the refusal", 10*time.Second, has("read-only: pausing the feed refused"))
	if s := getSnapshot(t, addr); s == nil || s.Paused {
		t.Fatalf("a read-only viewer's p paused the service")
	}

	v.keys("p")
	waitSnapshot(t, addr, "pause", func(s *state.Snapshot) bool { return s.Paused })
	v.waitFor("PAUSED in the viewer", 10*time.Second, has("PAUSED", "● feed paused"))
	v.keys("p")
	waitSnapshot(t, addr, "resume", func(s *state.Snapshot) bool { return !s.Paused })

	// The service dies without a word: the viewer stays, and says so.
	if err := syscall.Kill(svc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !svc.WaitExit(30 * time.Second) {
		t.Fatal("the service outlived kill -9")
	}
	v.waitFor("the viewer to say it is disconnected", 20*time.Second, has("DISCONNECTED since"))
	if got := v.exit(time.Second); got != "" {
		t.Fatalf("the viewer exited (%s) when the service died", got)
	}

	// The service comes back: a new run, shown without a restart of the viewer.
	svc2 := proc.Start(t, "service again", bin, args...)
	second := waitSnapshot(t, addr, "new run", func(s *state.Snapshot) bool { return s.Produced > 0 })
	if !second.Started.After(first.Started) {
		t.Fatalf("the restarted service's run started %v, the first %v", second.Started, first.Started)
	}
	screen := v.waitFor("the new run in the viewer", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "a new run of the pipeline") && !strings.Contains(s, "DISCONNECTED")
	})
	if !strings.Contains(screen, "● feed ok") {
		t.Errorf("the new run's health is not shown:\n%s", screen)
	}

	// Pause it from the viewer, then stop it from the viewer: its summary
	// counts the pause.
	v.keys("p")
	waitSnapshot(t, addr, "pause of the new run", func(s *state.Snapshot) bool { return s.Paused })
	v.keys("Q")
	v.waitFor("the confirmation", 10*time.Second, has("stop the service?"))
	v.keys("y")
	if !svc2.WaitExit(60 * time.Second) {
		t.Fatal("the service did not stop when the viewer asked")
	}
	if code := svc2.ExitCode(); code != 0 {
		t.Fatalf("the service exited %d after a stop from the viewer:\n%s", code, svc2.Tail(20))
	}
	var sum pipeline.Summary
	if err := json.Unmarshal([]byte(svc2.Stdout()), &sum); err != nil {
		t.Fatalf("summary %q: %v", svc2.Stdout(), err)
	}
	if sum.Pauses != 1 || sum.PausedS <= 0 || sum.StoredTrades != sum.Consumed {
		t.Errorf("summary after a pause from the viewer: pauses=%d paused_s=%v stored=%d consumed=%d", sum.Pauses, sum.PausedS, sum.StoredTrades, sum.Consumed)
	}
	if svc2.Count("stopping: asked through the control API") != 1 {
		t.Errorf("the service's log does not say who stopped it:\n%s", svc2.Tail(10))
	}
	v.waitFor("the viewer to see the service gone", 20*time.Second, has("DISCONNECTED since"))
	v.keys("q")
	if got := v.exit(10 * time.Second); got != "EXIT=0" {
		t.Fatalf("q left the viewer with %q, want EXIT=0:\n%s", got, v.capture())
	}
}

// TestListenOverTLS serves --listen over TLS: a client that trusts the
// certificate follows and steers the service; one that does not is told
// why; plain HTTP on the port gets nothing; attach takes the authority
// with --tls-ca.
func TestListenOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert := authtest.New(t)
	certFile, keyFile := cert.WriteFiles(t, dir)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tls-test-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	run := proc.StartFunc(t, "service", inProcess(nil), "--no-ui", "--listen", addr, "--listen-tls-cert", certFile, "--listen-tls-key", keyFile,
		"--control-token-file", tokenFile, "--data-dir", filepath.Join(dir, "data"), "--rate", "100", "--duration", "6s", "--summary", "json")

	c, err := remote.Dial("https://"+addr, remote.Options{Token: "tls-test-token-0123456789", TLS: cert.Client(), MinBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	untrusting, err := remote.Dial("https://"+addr, remote.Options{MinBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusting.Close()
	for i := 0; !c.Link().Connected || c.Snapshot() == nil; i++ {
		if i == 300 {
			t.Fatalf("no snapshot over TLS: %+v", c.Link())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.SetPaused(true); err != nil {
		t.Fatalf("pause over TLS: %v", err)
	}
	for i := 0; ; i++ {
		l := untrusting.Link()
		if l.Connected || untrusting.Snapshot() != nil {
			t.Fatalf("a client without the authority connected: %+v", l)
		}
		if strings.Contains(l.Err, "certificate") {
			break
		}
		if i == 300 {
			t.Fatalf("a client without the authority is not told why: %+v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/api/v1"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was answered on the TLS port")
		}
	}
	if !run.WaitExit(60 * time.Second) {
		t.Fatal("the service did not end")
	}
	var sum pipeline.Summary
	if err := json.Unmarshal([]byte(run.Stdout()), &sum); err != nil || sum.Pauses != 1 {
		t.Fatalf("summary %q (%v): want one pause", run.Stdout(), err)
	}

	// attach reads the authority from --tls-ca, and refuses a bad one.
	o, _, err := parseAttach([]string{"--tls-ca", certFile, "https://" + addr}, environment{})
	if err != nil {
		t.Fatal(err)
	}
	if conf, err := o.tlsConfig(); err != nil || conf == nil || conf.RootCAs == nil {
		t.Errorf("attach --tls-ca: %v %v", conf, err)
	}
	o, _, _ = parseAttach([]string{"--tls-ca", filepath.Join(dir, "missing.pem"), "https://" + addr}, environment{})
	if _, err := o.tlsConfig(); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("attach --tls-ca with a missing file: %v", err)
	}
}
