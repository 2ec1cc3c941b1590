package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/store/storetest"
	"github.com/tradetop/tradetop/trade"
)

// TestAvroOnRealKafka runs the command with --format avro against real
// Kafka and the dev stack's schema registry, on a topic that already holds
// trades in JSON and in plain Avro, as a topic being migrated would. The
// store must hold every trade of all three once, and the messages the
// command wrote must be Confluent-framed Avro under the id the registry
// gave trade.avsc, which fastavro decodes, with the schema it fetches from
// the registry, into the input's fields.
func TestAvroOnRealKafka(t *testing.T) {
	v := e2e.Need(t, "a Kafka, a schema registry and a Python with fastavro (scripts/devstack up; .ci/run makes the Python)",
		"TRADETOP_E2E_KAFKA", "TRADETOP_E2E_REGISTRY", "TRADETOP_E2E_PYTHON")
	brokers, registryURL, python := v[0], v[1], v[2]
	name := "avro_" + strings.ToLower(strconv.FormatInt(time.Now().UnixNano(), 36))
	kcfg := bus.Config{Brokers: strings.Split(brokers, ","), Topic: name, Group: name}
	deleteFaultTopics(t, kcfg.Brokers, name, name+".dlq")
	ensureFaultTopics(t, kcfg)

	// What other producers wrote before: JSON, then plain Avro.
	const start = "2026-03-02T14:00:00Z"
	earlier := syntheticInput(t, 41, start, 3000)
	for i, enc := range []*schema.Encoder{schema.NewEncoder(schema.JSON, 0), schema.NewEncoder(schema.Avro, 0)} {
		cfg := kcfg
		cfg.Values = enc
		p := bus.NewProducer(cfg)
		part := earlier[i*1500 : (i+1)*1500]
		if err := p.Send(t.Context(), part, 0); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}

	const n, seed, runStart = 10000, 42, "2026-03-02T15:00:00Z"
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	code := run([]string{
		"--no-ui", "--brokers", brokers, "--format", "avro", "--schema-registry", registryURL,
		"--topic", name, "--group", name, "--count", strconv.Itoa(n), "--rate", "max", "--seed", strconv.Itoa(seed),
		"--start", runStart, "--summary", "json", "--data-dir", dir,
	}, env(nil), &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	input := syntheticInput(t, seed, runStart, n)
	got := storetest.ReadSQLite(t, filepath.Join(dir, datadir.StoreFile))
	storetest.Check(t, "avro on a topic holding JSON and plain Avro", got, storetest.Reference(slices.Concat(earlier, input), defaultRunWindows))

	// The registry's id of trade.avsc for the topic's subject.
	var latest struct {
		ID     int    `json:"id"`
		Schema string `json:"schema"`
	}
	getJSON(t, registryURL+"/subjects/"+schema.Subject(name)+"/versions/latest", &latest)
	if latest.ID <= 0 {
		t.Fatalf("subject %s: no id registered", schema.Subject(name))
	}
	var byID struct {
		Schema string `json:"schema"`
	}
	getJSON(t, registryURL+"/schemas/ids/"+strconv.Itoa(latest.ID), &byID)
	schemaFile := filepath.Join(t.TempDir(), "writer.avsc")
	if err := os.WriteFile(schemaFile, []byte(byID.Schema), 0o644); err != nil {
		t.Fatal(err)
	}

	// Every message the command wrote, read raw.
	ours := map[string]trade.Trade{}
	for _, tr := range input {
		ours[tr.ID] = tr
	}
	var hexes []string
	var want []trade.Trade
	for _, m := range readTopic(t, kcfg.Brokers, name) {
		if m.Value[0] != 0 {
			continue // written before the run: JSON or plain Avro
		}
		if id := int(m.Value[1])<<24 | int(m.Value[2])<<16 | int(m.Value[3])<<8 | int(m.Value[4]); id != latest.ID {
			t.Fatalf("a message framed with schema id %d, the registry has %d", id, latest.ID)
		}
		if len(hexes) < 500 {
			hexes = append(hexes, hex.EncodeToString(m.Value[5:]))
		}
	}
	if len(hexes) == 0 {
		t.Fatal("no registry-framed message in the topic")
	}
	cmd := exec.Command(python, "schema/testdata/interop.py", "read", schemaFile)
	cmd.Stdin = strings.NewReader(strings.Join(hexes, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	py, err := cmd.Output()
	if err != nil {
		t.Fatalf("fastavro: %v: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(py)), "\n")
	if len(lines) != len(hexes) {
		t.Fatalf("fastavro decoded %d of %d messages", len(lines), len(hexes))
	}
	for _, line := range lines {
		var rec struct {
			ID, Symbol    string
			Price, Volume float64
			Time          int64
			Nanos         int64
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		in, ok := ours[rec.ID]
		if !ok {
			t.Fatalf("fastavro read a trade the input does not have: %s", line)
		}
		got := trade.Trade{ID: rec.ID, Symbol: rec.Symbol, Price: rec.Price, Volume: rec.Volume,
			Time: time.UnixMicro(rec.Time).Add(time.Duration(rec.Nanos)).UTC()}
		if got != in {
			t.Errorf("fastavro read %+v, the input has %+v", got, in)
		}
		want = append(want, in)
	}
	t.Logf("fastavro decoded %d messages, each equal to its input trade", len(want))
}

// TestAvroRefusedSchemaIsOneLine: a registry that refuses trade.avsc for
// the topic's subject stops the command at start with one line saying so.
func TestAvroRefusedSchemaIsOneLine(t *testing.T) {
	v := e2e.Need(t, "a Kafka and a schema registry (scripts/devstack up)", "TRADETOP_E2E_KAFKA", "TRADETOP_E2E_REGISTRY")
	brokers, registryURL := v[0], v[1]
	name := "avro_refused_" + strings.ToLower(strconv.FormatInt(time.Now().UnixNano(), 36))
	// An earlier writer's schema whose id is an int: trade.avsc cannot
	// read its data, which BACKWARD compatibility requires.
	old := `{"type":"record","name":"Trade","namespace":"io.tradetop","fields":[{"name":"id","type":"int"}]}`
	body, _ := json.Marshal(map[string]string{"schema": old})
	req, err := http.NewRequest(http.MethodPost, registryURL+"/subjects/"+schema.Subject(name)+"/versions", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registering the old schema: %s", resp.Status)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"--no-ui", "--brokers", brokers, "--format", "avro", "--schema-registry", registryURL,
		"--topic", name, "--group", name, "--count", "10", "--data-dir", t.TempDir()}, env(nil), &out, &errOut)
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if code == exitOK || len(lines) != 1 || !strings.Contains(lines[0], "refused trade.avsc for subject "+schema.Subject(name)) {
		t.Errorf("exit %d, stderr %q: want one line saying the registry refused the schema", code, errOut.String())
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

// readTopic returns every message of every partition of topic, up to the
// end offsets of when it is called.
func readTopic(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var all []kafka.Message
	for _, p := range parts {
		pc, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		end, err := pc.ReadLastOffset()
		pc.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MaxWait: 500 * time.Millisecond})
		for off := int64(0); off < end; {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("partition %d at %d of %d: %v", p.ID, off, end, err)
			}
			all = append(all, m)
			off = m.Offset + 1
		}
		r.Close()
	}
	if len(all) == 0 {
		t.Fatalf("topic %s is empty", topic)
	}
	return all
}
