//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/e2e/proc"
)

// TestPrometheusScrapesTradetop runs tradetop headless with --listen and a
// real Prometheus scraping it, as docker-compose.yml does: Prometheus's own
// HTTP API must then have tradetop's stored-trades counter, agreeing with
// the run's summary, and a lag series for every partition; the exposition
// passes `promtool check metrics`. It needs the prometheus and promtool
// binaries (Debian's prometheus package; .ci/run installs it).
func TestPrometheusScrapesTradetop(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		e2e.Unavailable(t, "prometheus is not installed (apt-get install prometheus; .ci/run installs it)")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		e2e.Unavailable(t, "promtool is not installed (it comes with Debian's prometheus package)")
	}
	bin := proc.Build(t)
	dir := t.TempDir()
	listen, promAddr := freeAddr(t), freeAddr(t)
	p := proc.Start(t, "tradetop", bin, []string{"--no-ui", "--listen", listen, "--seed", "7", "--start", faultStart,
		"--rate", "1000", "--status-interval", "500ms", "--summary", "json", "--data-dir", filepath.Join(dir, "data")}...)

	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 250ms
  scrape_timeout: 200ms
scrape_configs:
  - job_name: tradetop
    static_configs:
      - targets: [%q]
`, listen)), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := exec.Command(promBin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	var promLog e2e.Buffer
	prom.Stdout, prom.Stderr = &promLog, &promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("prometheus: pid %d on %s", prom.Process.Pid, promAddr)
	promDone := make(chan struct{})
	go func() { _ = prom.Wait(); close(promDone) }()
	t.Cleanup(func() {
		_ = prom.Process.Signal(syscall.SIGTERM)
		select {
		case <-promDone:
		case <-time.After(30 * time.Second):
			_ = prom.Process.Kill()
			<-promDone
		}
	})

	// Prometheus has scraped a while: stored trades, and every partition.
	q := func(expr string) []promSample { return promQuery(t, promAddr, expr) }
	var lag []promSample
	if !waitFor(e2e.Bound(t, 2*time.Minute), func() bool {
		stored := q("tradetop_trades_stored_total")
		lag = q(`tradetop_partition_lag_messages{job="tradetop"}`)
		return len(stored) == 1 && stored[0].value > 0 && len(lag) == embeddedPartitions
	}) {
		t.Fatalf("Prometheus never had stored trades and every partition's lag; its log:\n%s\ntradetop's:\n%s", promLog.String(), p.Tail(40))
	}
	parts := map[string]bool{}
	for _, s := range lag {
		parts[s.labels["partition"]] = true
		if s.value < 0 {
			t.Errorf("partition %s lag %v", s.labels["partition"], s.value)
		}
	}
	for i := range embeddedPartitions {
		if !parts[strconv.Itoa(i)] {
			t.Errorf("no lag series for partition %d: %v", i, lag)
		}
	}

	// The exposition passes promtool's checks.
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(string(exposition))
	if out, err := check.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Stop the run: Prometheus's last sample is the run's count at a scrape
	// shortly before its end.
	p.Signal(syscall.SIGTERM)
	code, sum := p.Finish(2 * time.Minute)
	if code != exitOK {
		t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, p.Tail(40))
	}
	last := func(metric string) float64 {
		s := q("max_over_time(" + metric + "[10m])")
		if len(s) != 1 {
			t.Fatalf("max_over_time(%s): %v", metric, s)
		}
		return s[0].value
	}
	stored, produced := last("tradetop_trades_stored_total"), last("tradetop_trades_produced_total")
	t.Logf("Prometheus's last samples: stored %.0f, produced %.0f; the summary: stored %d, produced %d", stored, produced, sum.StoredTrades, sum.Produced)
	// Between the last scrape and the end: a scrape interval, a snapshot
	// interval and the drain, at 1,000 trades/s; two seconds' worth.
	slack := 2000 * e2e.Slow(t)
	for _, c := range []struct {
		name      string
		prom, sum float64
	}{{"stored", stored, float64(sum.StoredTrades)}, {"produced", produced, float64(sum.Produced)}} {
		if c.prom > c.sum || c.sum-c.prom > slack {
			t.Errorf("Prometheus has %s %.0f, the summary %.0f: want at most the summary and within %.0f of it", c.name, c.prom, c.sum, slack)
		}
	}
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// promSample is one series of an instant query's result.
type promSample struct {
	labels map[string]string
	value  float64
}

// promQuery runs an instant query on Prometheus's HTTP API.
func promQuery(t *testing.T, addr, expr string) []promSample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil // not up yet
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		return nil // listening, its storage not ready yet
	}
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("query %q: %v", expr, err)
	}
	if body.Status != "success" {
		t.Fatalf("query %q: %s", expr, body.Error)
	}
	var out []promSample
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %q: value %v", expr, r.Value)
		}
		out = append(out, promSample{labels: r.Metric, value: v})
	}
	return out
}
