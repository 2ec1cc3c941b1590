package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/segmentio/kafka-go"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/trade"
)

// topicBroker starts an embedded broker of one partition that holds n
// trades in the topic and one dead letter, and returns its address.
func topicBroker(t *testing.T, n int) string {
	t.Helper()
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Partitions: 1, Topics: []string{"trades", "trades.dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	cfg := bus.Config{Brokers: []string{emb.Addr()}}
	ctx := context.Background()
	p := bus.NewProducer(cfg)
	defer p.Close()
	trades := make([]trade.Trade, n)
	for i := range trades {
		trades[i] = trade.Trade{ID: "t" + strconv.Itoa(i), Symbol: "AAPL", Price: 100 + float64(i), Volume: 1, Time: time.Date(2026, 1, 2, 15, 0, i, 0, time.UTC)}
	}
	if err := p.Send(ctx, trades, 0); err != nil {
		t.Fatal(err)
	}
	d := bus.NewDeadLetters(cfg)
	defer d.Close()
	bad := bus.Message{Topic: "trades", Partition: 0, Offset: 7, Key: []byte("MSFT"), Value: []byte(`{"s":"MSFT"`),
		Headers: []kafka.Header{{Key: "trace", Value: []byte("x1")}}}
	if err := d.Send(ctx, bad, errors.New("invalid trade: unexpected end of JSON")); err != nil {
		t.Fatal(err)
	}
	return emb.Addr()
}

func TestTopicBadInputIsOneLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no brokers", []string{"topic"}, "needs --brokers"},
		{"a bad broker", []string{"topic", "--brokers", "nohost"}, "-brokers"},
		{"offset without partition", []string{"topic", "--brokers", "h:9092", "--offset", "3"}, "give --partition too"},
		{"offset and time", []string{"topic", "--brokers", "h:9092", "--partition", "0", "--offset", "3", "--time", "2026-01-02T15:00:00Z"}, "not both"},
		{"a bad time", []string{"topic", "--brokers", "h:9092", "--time", "yesterday"}, "RFC 3339"},
		{"limit zero", []string{"topic", "--brokers", "h:9092", "--limit", "0"}, "-limit"},
		{"a negative partition", []string{"topic", "--brokers", "h:9092", "--partition", "-2"}, "-partition"},
		{"yes without redrive", []string{"topic", "--brokers", "h:9092", "--yes"}, "redrive"},
		{"an argument", []string{"topic", "--brokers", "h:9092", "more"}, "unexpected argument"},
		{"redrive of nothing", []string{"topic", "redrive", "--brokers", "h:9092"}, "--all"},
		{"redrive of one and all", []string{"topic", "redrive", "--brokers", "h:9092", "--all", "--partition", "0"}, "not both"},
		{"redrive with a listing flag", []string{"topic", "redrive", "--brokers", "h:9092", "--all", "--json"}, "-json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, environment{}, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "tradetop: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q, want one line saying %q", stderr.String(), tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestTopicBrokersFromTheEnvironment(t *testing.T) {
	addr := topicBroker(t, 3)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"topic", "--limit", "1"}, environment{"TRADETOP_BROKERS": addr}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "trades/0@2 ") {
		t.Errorf("printed %q, want the newest message, trades/0@2", stdout.String())
	}
}

func TestTopicJSONLines(t *testing.T) {
	addr := topicBroker(t, 5)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"topic", "--brokers", addr, "--json", "--limit", "3"}, environment{}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var offsets []int64
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var m inspected
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		offsets = append(offsets, m.Offset)
		if m.Form != "json" || m.Trade == nil || m.Trade.ID != "t"+strconv.FormatInt(m.Offset, 10) || m.Key != "AAPL" || m.DeadLetter != nil {
			t.Errorf("line %q: want a JSON trade keyed AAPL, not a dead letter", line)
		}
	}
	if want := []int64{4, 3, 2}; !slices.Equal(offsets, want) {
		t.Errorf("offsets %v, want the newest three, %v", offsets, want)
	}

	stdout.Reset()
	if code := run([]string{"topic", "--brokers", addr, "--dlq", "--json"}, environment{}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var dl inspected
	if err := json.Unmarshal(stdout.Bytes(), &dl); err != nil {
		t.Fatalf("%q: %v", stdout.String(), err)
	}
	if d := dl.DeadLetter; d == nil || d.Reason != "invalid trade: unexpected end of JSON" || d.Source() != "trades/0@7" || dl.DecodeError == "" {
		t.Errorf("dead letter %+v, want its reason, its source trades/0@7 and why it does not decode", dl)
	}
}

func TestTopicRedrive(t *testing.T) {
	addr := topicBroker(t, 2)
	var stdout, stderr bytes.Buffer
	if !term.IsTerminal(os.Stdin.Fd()) {
		code := run([]string{"topic", "redrive", "--brokers", addr, "--all"}, environment{}, &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), "--yes") || stdout.Len() != 0 {
			t.Errorf("redrive without a terminal or --yes: exit %d, %q %q; want exit 2 asking for --yes", code, stdout.String(), stderr.String())
		}
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"topic", "redrive", "--brokers", addr, "--partition", "0", "--offset", "0", "--yes"}, environment{}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "re-drove the dead letter trades.dlq/0@0 to trades") {
		t.Errorf("printed %q", stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"topic", "--brokers", addr, "--partition", "0", "--limit", "1"}, environment{}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.HasPrefix(out, `trades/0@2 `) || !strings.Contains(out, `key "MSFT"`) || !strings.Contains(out, `headers: trace="x1"`) || strings.Contains(out, "source-topic") {
		t.Errorf("the topic's newest message is\n%s\nwant the re-driven copy with its own header only", out)
	}
}

// TestTopicBrowserDecodes reads the topic and its dead letters through the
// terminal UI's browser, which waits for the pipeline's brokers.
func TestTopicBrowserDecodes(t *testing.T) {
	addr := topicBroker(t, 3)
	var brokers []string
	tb := newTopicBrowser(bus.Config{}, func() []string { return brokers }, schema.NewDecoder(nil))
	defer tb.Close()
	ctx := context.Background()
	if _, err := tb.Partitions(ctx, false); err == nil {
		t.Error("the browser read before the brokers were known")
	}
	brokers = []string{addr}
	msgs, err := tb.Page(ctx, false, 0, -1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Offset != 2 || msgs[0].Trade == nil || msgs[0].Trade.ID != "t2" || msgs[0].Form != "json" {
		t.Errorf("newest page %+v, want offsets 2 and 1 decoded", msgs)
	}
	dead, err := tb.Page(ctx, true, 0, -1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].DeadLetter == nil || dead[0].DeadLetter.Source != "trades/0@7" || dead[0].Trade != nil || dead[0].Err == "" {
		t.Errorf("dead letters %+v, want the one from trades/0@7, not a trade", dead)
	}
	if err := tb.Redrive(ctx, 0, 0); err != nil {
		t.Fatal(err)
	}
	if msgs, err = tb.Next(ctx, false, 0, 3, 5, time.Second); err != nil || len(msgs) != 1 || msgs[0].Key != "MSFT" {
		t.Errorf("after the re-drive, from 3: %+v, %v; want the copy keyed MSFT", msgs, err)
	}
}
