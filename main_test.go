package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestBadInputIsOneLineAndExitTwo(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // the flag or variable the line must name
	}{
		{"negative rate", []string{"--rate", "-5"}, nil, "-rate"},
		{"rate not a number", []string{"--rate", "fast"}, nil, "-rate"},
		{"zero window", []string{"--windows", "0s"}, nil, "-windows"},
		{"window not dividing a day", []string{"--windows", "1s,7s"}, nil, "-windows"},
		{"garbage brokers", []string{"--brokers", "!!garbage!!"}, nil, "-brokers"},
		{"broker without port", []string{"--brokers", "localhost"}, nil, "-brokers"},
		{"bad start", []string{"--start", "yesterday"}, nil, "-start"},
		{"negative count", []string{"--count", "-1"}, nil, "-count"},
		{"zero partitions", []string{"--partitions", "0"}, nil, "-partitions"},
		{"unknown summary", []string{"--summary", "xml"}, nil, "-summary"},
		{"unknown flag", []string{"--frobnicate"}, nil, "frobnicate"},
		{"stray argument", []string{"extra"}, nil, "extra"},
		{"bad environment", nil, map[string]string{"TRADETOP_RATE": "-1"}, "TRADETOP_RATE"},
		{"cassandra url", []string{"--cassandra", "cql://db"}, nil, "-cassandra"},
		{"cassandra bad port", []string{"--cassandra", "db:0"}, nil, "-cassandra"},
		{"bad replication", []string{"--cassandra-replication", "SimpleStrategy:x"}, nil, "-cassandra-replication"},
		{"unknown consistency", []string{"--consistency", "most"}, nil, "-consistency"},
		{"keyspace with a dash", []string{"--keyspace", "my-ks"}, nil, "-keyspace"},
		{"unknown sasl", []string{"--brokers", "k:9092", "--kafka-sasl", "md5"}, nil, "-kafka-sasl"},
		{"sasl without user", []string{"--brokers", "k:9092", "--kafka-sasl", "plain"}, nil, "-kafka-sasl"},
		{"sasl without brokers", []string{"--kafka-sasl", "plain", "--kafka-username", "u"}, nil, "-kafka-sasl"},
		{"missing password file", []string{"--cassandra", "db", "--cassandra-username", "u", "--cassandra-password-file", "/nonexistent/pw"}, nil, "-cassandra-password-file"},
		{"password in both places", []string{"--brokers", "k:9092", "--kafka-sasl", "plain", "--kafka-username", "u", "--kafka-password-file", "main.go"},
			map[string]string{"TRADETOP_KAFKA_PASSWORD": "x"}, "-kafka-password-file"},
		{"cassandra password without user", []string{"--cassandra", "db"}, map[string]string{"TRADETOP_CASSANDRA_PASSWORD": "x"}, "-cassandra-username"},
		{"cassandra credentials without cassandra", []string{"--cassandra-username", "u"}, nil, "-cassandra-username"},
		{"missing CA file", []string{"--cassandra", "db", "--cassandra-tls-ca", "/nonexistent/ca.pem"}, nil, "cassandra TLS"},
		{"client cert without key", []string{"--brokers", "k:9092", "--kafka-tls-cert", "main.go"}, nil, "kafka TLS"},
		{"unknown source", []string{"--source", "bloomberg"}, nil, "-source"},
		{"replay without a file", []string{"--source", "replay:"}, nil, "-source"},
		{"finnhub without symbols", []string{"--source", "finnhub"}, map[string]string{"FINNHUB_API_KEY": "k"}, "-symbols"},
		{"finnhub without a key", []string{"--source", "finnhub", "--symbols", "AAPL"}, nil, "-finnhub-key-file"},
		{"count with a replay", []string{"--source", "replay:x.jsonl", "--count", "5"}, nil, "-count"},
		{"bad speed", []string{"--speed", "-2"}, nil, "-speed"},
		{"zero stall timeout", []string{"--stall-timeout", "0s"}, nil, "-stall-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, env(tt.env), &out, &errOut)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			lines := strings.Split(strings.TrimRight(errOut.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr %q: want one line naming %s", errOut.String(), tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	o, _, err := parse([]string{"--rate", "50"}, env(map[string]string{"TRADETOP_RATE": "max", "TRADETOP_SEED": "9", "TRADETOP_NO_UI": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.rate != 50 || o.seed != 9 || !o.noUI {
		t.Errorf("rate %v seed %d no-ui %v; want 50 from the flag, 9 and true from the environment", o.rate, o.seed, o.noUI)
	}
}

func TestDefaults(t *testing.T) {
	o, _, err := parse(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if o.rate != defaultRate || o.partitions != 6 || o.topic != "trades" || len(o.windows) != 2 ||
		o.windows[0] != time.Second || o.windows[1] != time.Minute || o.lateness != 2*time.Second {
		t.Errorf("unexpected defaults %+v", o)
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--help"}, env(nil), &out, &errOut); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	var o options
	fs := flags(&o)
	for _, name := range []string{"no-ui", "seed", "rate", "start", "count", "duration", "brokers", "windows", "allowed-lateness", "data-dir", "status-interval", "summary"} {
		if fs.Lookup(name) == nil {
			t.Errorf("no flag --%s", name)
		}
		if !strings.Contains(out.String(), "-"+name) {
			t.Errorf("--help does not mention --%s", name)
		}
	}
}

func TestHeadlessCountRun(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"--no-ui", "--count", "3000", "--rate", "max", "--seed", "3",
		"--start", "2026-01-02T15:00:00Z", "--summary", "json", "--data-dir", t.TempDir()}
	if code := run(args, env(nil), &out, &errOut); code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, errOut.String())
	}
	var s struct {
		Produced, Consumed, StoredTrades, Candles, Errors int64
	}
	var raw map[string]any
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatalf("summary %q: %v", out.String(), err)
	}
	for _, k := range []string{"produced", "consumed", "stored_trades", "candles", "sector_rows", "late", "errors", "duration_s", "throughput_tps", "latency_ms"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	s.Produced, s.Consumed, s.StoredTrades = int64(raw["produced"].(float64)), int64(raw["consumed"].(float64)), int64(raw["stored_trades"].(float64))
	s.Candles, s.Errors = int64(raw["candles"].(float64)), int64(raw["errors"].(float64))
	if s.Produced != 3000 || s.Consumed != 3000 || s.StoredTrades != 3000 || s.Candles == 0 || s.Errors != 0 {
		t.Errorf("summary %s", out.String())
	}
}
