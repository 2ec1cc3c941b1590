package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/term"
	"github.com/coder/websocket"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/feed/finnhub"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/state"
	"github.com/tradetop/tradetop/tui"
)

// The secrets the command is given: every way each can be given has its own
// value, so a leak says which way leaked. Each holds characters that URL
// query escaping and Go quoting change, so their escaped forms differ.
const (
	secretKeyEnv         = "fhENV-k3y+/=%x1"
	secretKeyFile        = "fhFILE-k3y+/=%x2"
	secretKeyWrong       = "fhWRONG-k3y+/=%x3"
	secretKeySpaced      = "fhSPACED k3y+/=%x4" // refused: a key has no spaces
	secretKafkaEnv       = "kafkaENV-pw+/=%&1"
	secretKafkaFile      = "kafkaFILE-pw+/=%&2"
	secretKafkaWrongEnv  = "kafkaWRONG-pw+/=%&3"
	secretKafkaWrongFile = "kafkaWRONGFILE-pw+/=%&4"
	secretKafkaBell      = "kafkaBELL-pw\a+/=%&5" // refused by SCRAM's SASLprep
	secretCassEnv        = "cassENV-pw+/=%&1"
	secretCassFile       = "cassFILE-pw+/=%&2"
	secretTokenEnv       = "ctlENV-t0ken+/=%&0123456789"
	secretTokenFile      = "ctlFILE-t0ken+/=%&0123456789"
	secretTokenWrong     = "ctlWRONG-t0ken+/=%&0123456789"
	secretTokenShort     = "ctlSHORT+/=%&1" // refused: too short
	secretKafkaUser      = "alice"
	secretCassUser       = "bob"
)

// testSecrets are every secret above: a run must show none of them,
// whichever it was given.
var testSecrets = []string{
	secretKeyEnv, secretKeyFile, secretKeyWrong, secretKeySpaced,
	secretKafkaEnv, secretKafkaFile, secretKafkaWrongEnv, secretKafkaWrongFile, secretKafkaBell,
	secretCassEnv, secretCassFile,
	secretTokenEnv, secretTokenFile, secretTokenWrong, secretTokenShort,
}

// secretForms are the ways secret could show in text: as it is, URL query
// and path escaped (a URL with the token), Go- and JSON-quoted (an error
// with %q, a JSON log), and within base64 (SASL PLAIN, HTTP basic auth).
func secretForms(secret string) map[string]string {
	forms := map[string]string{}
	seen := map[string]bool{}
	add := func(name, s string) {
		if !seen[s] {
			seen[s] = true
			forms[name] = s
		}
	}
	add("raw", secret)
	add("url query escaped", url.QueryEscape(secret))
	add("url path escaped", url.PathEscape(secret))
	q := strconv.Quote(secret)
	add("go quoted", q[1:len(q)-1])
	j, _ := json.Marshal(secret)
	add("json quoted", string(j[1:len(j)-1]))
	// In base64 the secret's characters depend on where in the encoded
	// text it falls: for each of the three alignments, take the characters
	// that its bytes alone determine, which any base64 holding it holds.
	for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64 url": base64.URLEncoding} {
		for k := range 3 {
			b64 := enc.EncodeToString(append(make([]byte, k), secret...))
			from, to := 4*((k+2)/3), 4*((k+len(secret))/3)
			if to-from >= 12 {
				add(fmt.Sprintf("%s at offset %d", name, k), b64[from:to])
			}
		}
	}
	return forms
}

// outputs are the texts a run showed, by where they went: "stdout",
// "stderr", "file tradetop.log", "ui 80x24 dashboard".
type outputs map[string]string

// findLeaks returns, for every secret in any output in any form, where it
// is.
func findLeaks(outs outputs, secrets []string) []string {
	var found []string
	for where, text := range outs {
		for _, s := range secrets {
			for form, v := range secretForms(s) {
				if i := strings.Index(text, v); i >= 0 {
					from, to := max(i-60, 0), min(i+len(v)+60, len(text))
					found = append(found, fmt.Sprintf("%s holds %q (%s): …%q…", where, s, form, text[from:to]))
				}
			}
		}
	}
	slices.Sort(found)
	return found
}

// checkNoLeaks fails the test for every one of secrets found in outs.
func checkNoLeaks(t *testing.T, outs outputs, secrets []string) {
	t.Helper()
	if len(outs) == 0 {
		t.Fatal("nothing captured")
	}
	for _, leak := range findLeaks(outs, secrets) {
		t.Error(leak)
	}
}

// addDir adds every regular file under dir to outs, as "file <name>": the
// log, the store and its journal, a recording.
func addDir(t *testing.T, outs outputs, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		outs["file "+rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeSecretFile writes secret as the first line of a file outside any
// data directory, and returns its path.
func writeSecretFile(t *testing.T, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// saslBroker starts an in-process Kafka broker that requires SASL with
// mechanism (plain, scram-sha-256 or scram-sha-512) as user with password,
// and returns its address.
func saslBroker(t *testing.T, mechanism, user, password string) string {
	t.Helper()
	m, err := bus.SASLMechanism(mechanism, user, password)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.EnableSASL(), kfake.Superuser(m.Name(), user, password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// leakyFinnhub serves Finnhub's protocol to key, and is careless with it:
// it refuses any other token with a 401 whose body echoes the token, and
// between trades it sends an error frame, a bad trade and a broken frame
// that quote the key, raw and URL-escaped.
func leakyFinnhub(t *testing.T, key string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		if token != key {
			http.Error(w, "Invalid API key "+token, http.StatusUnauthorized)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		go func() { // subscriptions, then the close handshake
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
			}
		}()
		careless := []string{
			fmt.Sprintf(`{"type":"error","msg":"token %s (%s) is over its quota"}`, key, url.QueryEscape(key)),
			fmt.Sprintf(`{"type":"trade","data":[{"s":%q,"p":-1,"t":%d,"v":1}]}`, key, time.Now().UnixMilli()),
			`{"type":"trade","data":[{"s":"` + key,
		}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			frame := fmt.Sprintf(`{"type":"trade","data":[{"s":"AAPL","p":%g,"t":%d,"v":%d},{"s":"MSFT","p":511.5,"t":%d,"v":3}]}`,
				229+float64(i%7)/10, time.Now().UnixMilli(), 1+i%5, time.Now().UnixMilli())
			if i%8 == 3 {
				frame = careless[(i/8)%len(careless)]
			}
			if ws.Write(ctx, websocket.MessageText, []byte(frame)) != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// askTheAPI returns a function that, while the service at addr runs, asks
// its control API to pause and resume, and to say what it allows, with the
// token, with a wrong one and with none.
func askTheAPI(addr, token, wrong string) func(t *testing.T) {
	return func(t *testing.T) {
		c := http.Client{Timeout: 2 * time.Second}
		ask := func(method, path, tok string) int {
			req, _ := http.NewRequest(method, "http://"+addr+"/api/v1"+path, nil)
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := c.Do(req)
			if err != nil {
				return 0
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		for range 100 {
			if ask("GET", "", "") == http.StatusOK {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, tok := range []string{token, wrong, ""} {
			ask("GET", "", tok)
			ask("POST", "/pause", tok)
			ask("POST", "/subscribe?symbol=AAPL", tok)
			ask("POST", "/resume", tok)
		}
		if got := ask("POST", "/pause", wrong); got != http.StatusUnauthorized {
			t.Errorf("a wrong token's pause answered %d, want 401", got)
		}
	}
}

// secretRun is one run of the command, with the secrets it is given.
type secretRun struct {
	name string
	args []string
	env  map[string]string
	// exit is the exit code it must end with; -1 for any failure, -2 for
	// any at all.
	exit int
	// during, if set, runs beside the command, until it returns.
	during func(t *testing.T)
}

// runAndCapture runs r with its data directory in dir and returns what it
// showed: stdout (with the JSON summary), stderr (with the headless log
// and its text summary) and every file it wrote in dir.
func runAndCapture(t *testing.T, r secretRun, dir string) outputs {
	t.Helper()
	// kafka-go's goroutines may log a moment after run returns.
	var out, errOut e2e.Buffer
	var beside sync.WaitGroup
	if r.during != nil {
		beside.Go(func() { r.during(t) })
	}
	code := run(r.args, env(r.env), &out, &errOut)
	beside.Wait()
	switch {
	case r.exit == -1 && code == exitOK, r.exit >= 0 && code != r.exit:
		t.Errorf("exit %d, want %d; stderr:\n%s", code, r.exit, errOut.String())
	}
	outs := outputs{"stdout": out.String(), "stderr": errOut.String()}
	addDir(t, outs, dir)
	return outs
}

// TestSecretsNeverLeak gives the command every secret every way it takes
// them, runs it through success and failure, and looks for each secret,
// raw and encoded, in all it shows: stdout, stderr, the log, the summary,
// every file in its data directory, and the terminal UI rendered from its
// pipeline's snapshots.
func TestSecretsNeverLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command a dozen times")
	}
	keyFile := writeSecretFile(t, secretKeyFile)
	kafkaFile := writeSecretFile(t, secretKafkaFile)
	kafkaWrong := writeSecretFile(t, secretKafkaWrongFile)
	cassFile := writeSecretFile(t, secretCassFile)
	finnhubEnv := leakyFinnhub(t, secretKeyEnv)
	finnhubFile := leakyFinnhub(t, secretKeyFile)
	scram := saslBroker(t, "scram-sha-256", secretKafkaUser, secretKafkaEnv)
	plain := saslBroker(t, "plain", secretKafkaUser, secretKafkaFile)
	cassandra := closedPort(t)
	everyEnv := map[string]string{
		"FINNHUB_API_KEY": secretKeyEnv, "TRADETOP_KAFKA_PASSWORD": secretKafkaEnv, "TRADETOP_CASSANDRA_PASSWORD": secretCassEnv,
	}
	scramArgs := []string{"--brokers", scram, "--kafka-sasl", "scram-sha-256", "--kafka-username", secretKafkaUser}
	noUI := func(args ...string) []string {
		return append([]string{"--no-ui", "--log-level", "debug", "--status-interval", "300ms", "--drain-timeout", "5s"}, args...)
	}
	tokenFile := writeSecretFile(t, secretTokenFile)
	listenAt := freeAddr(t)
	runs := []secretRun{
		{
			name:   "control API asked with the token and without",
			args:   noUI("--listen", listenAt, "--duration", "4s", "--summary", "json"),
			env:    map[string]string{"TRADETOP_CONTROL_TOKEN": secretTokenEnv},
			exit:   exitOK,
			during: askTheAPI(listenAt, secretTokenEnv, secretTokenWrong),
		},
		{
			name: "control token in a file",
			args: noUI("--listen", "127.0.0.1:0", "--control-token-file", tokenFile, "--duration", "1s", "--summary", "text"),
			exit: exitOK,
		},
		{
			name: "control token too short",
			args: noUI("--listen", "127.0.0.1:0"),
			env:  map[string]string{"TRADETOP_CONTROL_TOKEN": secretTokenShort},
			exit: exitUsage,
		},
		{
			name: "control token in the environment and a file",
			args: noUI("--listen", "127.0.0.1:0", "--control-token-file", tokenFile),
			env:  map[string]string{"TRADETOP_CONTROL_TOKEN": secretTokenEnv},
			exit: exitUsage,
		},
		{
			name: "attach to nothing, with a token",
			args: []string{"attach", "--control-token-file", tokenFile, "ftp://" + closedPort(t)},
			exit: exitUsage,
		},
		{
			name: "json summary, key and password in the environment",
			args: noUI(slices.Concat(scramArgs, []string{"--source", "finnhub", "--finnhub-url", finnhubEnv, "--symbols", "AAPL,MSFT",
				"--duration", "3s", "--summary", "json"})...),
			env:  map[string]string{"FINNHUB_API_KEY": secretKeyEnv, "TRADETOP_KAFKA_PASSWORD": secretKafkaEnv},
			exit: exitOK,
		},
		{
			name: "text summary, key and password in files",
			args: noUI("--source", "finnhub", "--finnhub-url", finnhubFile, "--finnhub-key-file", keyFile, "--symbols", "AAPL,MSFT",
				"--brokers", plain, "--kafka-sasl", "plain", "--kafka-username", secretKafkaUser, "--kafka-password-file", kafkaFile,
				"--duration", "3s", "--summary", "text"),
			exit: exitOK,
		},
		{
			name: "finnhub refuses the key",
			args: noUI(slices.Concat(scramArgs, []string{"--source", "finnhub", "--finnhub-url", finnhubEnv, "--symbols", "AAPL",
				"--duration", "10s", "--summary", "json"})...),
			env:  map[string]string{"FINNHUB_API_KEY": secretKeyWrong, "TRADETOP_KAFKA_PASSWORD": secretKafkaEnv},
			exit: -1,
		},
		{
			name: "finnhub unreachable",
			args: noUI("--source", "finnhub", "--finnhub-url", "ws://"+closedPort(t)+"/ws", "--finnhub-key-file", keyFile,
				"--symbols", "AAPL", "--duration", "2s", "--summary", "json"),
			exit: -2,
		},
		{
			name: "kafka refuses the scram password",
			args: noUI(slices.Concat(scramArgs, []string{"--count", "50", "--rate", "max", "--duration", "20s", "--summary", "json"})...),
			env:  map[string]string{"TRADETOP_KAFKA_PASSWORD": secretKafkaWrongEnv},
			exit: -1,
		},
		{
			name: "kafka refuses the plain password",
			args: noUI("--brokers", plain, "--kafka-sasl", "plain", "--kafka-username", secretKafkaUser, "--kafka-password-file", kafkaWrong,
				"--count", "50", "--rate", "max", "--duration", "20s", "--summary", "text"),
			exit: -1,
		},
		{
			name: "scram cannot take the password",
			args: noUI(scramArgs...),
			env:  map[string]string{"TRADETOP_KAFKA_PASSWORD": secretKafkaBell},
			exit: exitUsage,
		},
		{
			name: "cassandra unreachable, password in the environment",
			args: noUI("--cassandra", cassandra, "--cassandra-username", secretCassUser, "--count", "10", "--summary", "json"),
			env:  map[string]string{"TRADETOP_CASSANDRA_PASSWORD": secretCassEnv},
			exit: exitFailure,
		},
		{
			name: "cassandra unreachable, password in a file",
			args: noUI("--cassandra", cassandra, "--cassandra-username", secretCassUser, "--cassandra-password-file", cassFile,
				"--count", "10", "--summary", "text"),
			exit: exitFailure,
		},
		{
			name: "help",
			args: []string{"--help", "--finnhub-key-file", keyFile, "--kafka-password-file", kafkaFile, "--cassandra-password-file", cassFile},
			env:  everyEnv,
			exit: exitOK,
		},
		{
			name: "bad rate next to every secret",
			args: []string{"--rate", "fast", "--source", "finnhub", "--symbols", "AAPL", "--cassandra", cassandra, "--cassandra-username", secretCassUser},
			env:  everyEnv,
			exit: exitUsage,
		},
		{
			name: "bad variable next to every secret",
			env:  map[string]string{"FINNHUB_API_KEY": secretKeyEnv, "TRADETOP_KAFKA_PASSWORD": secretKafkaEnv, "TRADETOP_RATE": "fast"},
			exit: exitUsage,
		},
		{
			name: "unknown sasl mechanism",
			args: []string{"--brokers", scram, "--kafka-sasl", "md5", "--kafka-username", secretKafkaUser},
			env:  everyEnv,
			exit: exitUsage,
		},
		{
			name: "password in the environment and a file",
			args: slices.Concat(scramArgs, []string{"--kafka-password-file", kafkaFile}),
			env:  everyEnv,
			exit: exitUsage,
		},
		{
			name: "cassandra password without a user",
			args: []string{"--cassandra", cassandra, "--cassandra-password-file", cassFile},
			exit: exitUsage,
		},
		{
			name: "key with a space",
			args: noUI("--source", "finnhub", "--symbols", "AAPL"),
			env:  map[string]string{"FINNHUB_API_KEY": secretKeySpaced},
			exit: -1,
		},
		{
			name: "key in the url too",
			args: noUI("--source", "finnhub", "--symbols", "AAPL", "--finnhub-url", "wss://ws.finnhub.io/?token="+url.QueryEscape(secretKeyEnv)),
			env:  map[string]string{"FINNHUB_API_KEY": secretKeyEnv},
			exit: -1,
		},
		{
			name: "bad symbol next to the key",
			args: noUI("--source", "finnhub", "--symbols", "AA PL", "--finnhub-key-file", keyFile),
			exit: -1,
		},
	}
	// The terminal UI's log goes to the data directory; without a terminal
	// the run stops before the pipeline starts, but logs what it set up.
	if !term.IsTerminal(os.Stdout.Fd()) {
		runs = append(runs, secretRun{
			name: "terminal UI log",
			args: slices.Concat(scramArgs, []string{"--source", "finnhub", "--finnhub-url", finnhubEnv, "--symbols", "AAPL",
				"--log-level", "debug", "--summary", "text"}),
			env:  map[string]string{"FINNHUB_API_KEY": secretKeyEnv, "TRADETOP_KAFKA_PASSWORD": secretKafkaEnv},
			exit: exitFailure,
		})
	}
	secrets := slices.Clone(testSecrets)
	real, realSecrets := realSASLRuns(t)
	runs = append(runs, real...)
	secrets = append(secrets, realSecrets...)

	// Every line the failing runs printed becomes an event of the UI below.
	var mu sync.Mutex
	var failures []state.Event
	t.Run("command", func(t *testing.T) {
		for _, r := range runs {
			t.Run(r.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				r.args = append(slices.Clone(r.args), "--data-dir", dir)
				outs := runAndCapture(t, r, dir)
				checkNoLeaks(t, outs, secrets)
				mu.Lock()
				defer mu.Unlock()
				for _, line := range strings.Split(outs["stderr"], "\n") {
					if strings.HasPrefix(line, "tradetop: ") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
						failures = append(failures, state.Event{Time: time.Now(), Level: slog.LevelError, Source: r.name, Message: line})
					}
				}
			})
		}
	})

	t.Run("ui of a live run", func(t *testing.T) {
		p := secretPipeline(t, slices.Concat(scramArgs, []string{"--source", "finnhub", "--finnhub-url", finnhubEnv, "--symbols", "AAPL,MSFT"}),
			map[string]string{"FINNHUB_API_KEY": secretKeyEnv, "TRADETOP_KAFKA_PASSWORD": secretKafkaEnv})
		checkNoLeaks(t, uiWhileRunning(t, p), secrets)
	})
	t.Run("ui of a run that cannot reach finnhub", func(t *testing.T) {
		p := secretPipeline(t, []string{"--brokers", plain, "--kafka-sasl", "plain", "--kafka-username", secretKafkaUser, "--kafka-password-file", kafkaFile,
			"--source", "finnhub", "--finnhub-url", "ws://" + closedPort(t) + "/ws", "--finnhub-key-file", keyFile, "--symbols", "AAPL"}, nil)
		checkNoLeaks(t, uiWhileRunning(t, p), secrets)
	})
	t.Run("ui of the failed runs", func(t *testing.T) {
		if len(failures) == 0 {
			t.Fatal("no run failed")
		}
		src, err := finnhub.New(finnhub.Config{URL: finnhubEnv, Key: secretKeyEnv, Symbols: []string{"AAPL"}})
		if err != nil {
			t.Fatal(err)
		}
		s := &state.Snapshot{
			Time: time.Now(), Started: time.Now().Add(-time.Minute),
			Source: src.Name(), Broker: fmt.Sprint([]string{scram}), Store: "cassandra " + cassandra + "/tradetop",
			Topic: "trades", Group: "tradetop", Intervals: []time.Duration{time.Second, time.Minute},
			Errors: int64(len(failures)), Events: failures,
			Feed: &feed.Report{LastError: failures[0].Message, LastErrorTime: time.Now(), LastBad: failures[len(failures)-1].Message, Bad: 1},
		}
		checkNoLeaks(t, uiScreens(t, staticSource{s}, "failed runs"), secrets)
	})
}

// realSASLRuns are runs against the dev stack's SASL_SSL listener, when it
// is given: TRADETOP_E2E_KAFKA_SASL is its host:port,
// TRADETOP_E2E_KAFKA_PASSWORD_FILE holds the password of
// TRADETOP_E2E_KAFKA_USER (default tradetop), TRADETOP_E2E_TLS_CA is the CA.
// One run has the right password, one a wrong one.
func realSASLRuns(t *testing.T) (runs []secretRun, secrets []string) {
	brokers, pwFile, ca := os.Getenv("TRADETOP_E2E_KAFKA_SASL"), os.Getenv("TRADETOP_E2E_KAFKA_PASSWORD_FILE"), os.Getenv("TRADETOP_E2E_TLS_CA")
	if brokers == "" || pwFile == "" || ca == "" {
		if e2e.CI() {
			t.Fatal("CI=true: TRADETOP_E2E_KAFKA_SASL, TRADETOP_E2E_KAFKA_PASSWORD_FILE and TRADETOP_E2E_TLS_CA must all be set")
		}
		t.Log("TRADETOP_E2E_KAFKA_SASL, TRADETOP_E2E_KAFKA_PASSWORD_FILE and TRADETOP_E2E_TLS_CA are not all set: no run against a real SASL broker")
		return nil, nil
	}
	user := cmp.Or(os.Getenv("TRADETOP_E2E_KAFKA_USER"), "tradetop")
	b, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	// A password too short to be told from other text is not looked for.
	if pw, _, _ := strings.Cut(string(b), "\n"); len(strings.TrimSuffix(pw, "\r")) >= 8 {
		secrets = append(secrets, strings.TrimSuffix(pw, "\r"))
	}
	topic := fmt.Sprintf("secrets_%d", time.Now().UnixNano())
	args := []string{"--no-ui", "--log-level", "debug", "--brokers", brokers, "--kafka-sasl", "scram-sha-512", "--kafka-username", user,
		"--kafka-tls", "--kafka-tls-ca", ca,
		"--topic", topic, "--group", topic, "--count", "200", "--rate", "max", "--duration", "30s", "--drain-timeout", "5s"}
	return []secretRun{
		{name: "real sasl broker", args: slices.Concat(args, []string{"--kafka-password-file", pwFile, "--summary", "json"}), exit: exitOK},
		{name: "real sasl broker, wrong password", args: slices.Concat(args, []string{"--summary", "text"}),
			env: map[string]string{"TRADETOP_KAFKA_PASSWORD": secretKafkaWrongEnv}, exit: -1},
	}, secrets
}

// secretPipeline builds the pipeline the command would from args and vars,
// with execute's own wiring, its data directory a temporary one.
func secretPipeline(t *testing.T, args []string, vars map[string]string) *pipeline.Pipeline {
	t.Helper()
	w := wired(t, args, vars)
	p, err := pipeline.New(w.config)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// uiWhileRunning runs p for a few seconds and renders the UI over it as it
// runs and once it has stopped.
func uiWhileRunning(t *testing.T, p *pipeline.Pipeline) outputs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx)
		done <- err
	}()
	outs := outputs{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Logf("the pipeline stopped with %v", err)
			}
			addAll(outs, uiScreens(t, p, "stopped"))
			if s := p.Snapshot(); s == nil || s.Source == "" {
				t.Fatal("the pipeline published no snapshot to render")
			}
			return outs
		case <-tick.C:
			addAll(outs, uiScreens(t, p, fmt.Sprintf("at %ds", i+1)))
		}
	}
}

// addAll copies src into dst.
func addAll(dst, src outputs) {
	for k, v := range src {
		dst[k] = v
	}
}

// uiScreens renders the UI over src as a user sees it, at three sizes
// (the widest truncates nothing), on each screen: the dashboard with each
// pane in focus, the help and a symbol's detail.
func uiScreens(t *testing.T, src tui.Source, label string) outputs {
	t.Helper()
	outs := outputs{}
	keys := []struct {
		name string
		key  tea.KeyMsg
	}{
		{"next pane", tea.KeyMsg{Type: tea.KeyTab}},
		{"next pane", tea.KeyMsg{Type: tea.KeyTab}},
		{"next pane", tea.KeyMsg{Type: tea.KeyTab}},
		{"help", tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("?")}},
		{"help closed", tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("?")}},
		{"first symbol", tea.KeyMsg{Type: tea.KeyTab}},
		{"detail", tea.KeyMsg{Type: tea.KeyEnter}},
	}
	for _, size := range [][2]int{{80, 24}, {160, 48}, {400, 100}} {
		at := fmt.Sprintf("ui %s %dx%d", label, size[0], size[1])
		// Ticks every millisecond, so that a tick's command returns at once.
		var m tea.Model = tui.New(src, tui.Options{Interval: time.Millisecond})
		m = deliver(m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for _, msg := range runCmd(m.Init()) {
			m = deliver(m, msg)
		}
		outs[at+" dashboard"] = ansi.Strip(m.View())
		for i, k := range keys {
			m = deliver(m, k.key)
			outs[fmt.Sprintf("%s %d %s", at, i, k.name)] = ansi.Strip(m.View())
		}
	}
	return outs
}

// deliver hands msg to m and then the messages of the command it returns,
// those of theirs dropped: enough for a key's candle read to land.
func deliver(m tea.Model, msg tea.Msg) tea.Model {
	m, cmd := m.Update(msg)
	for _, msg := range runCmd(cmd) {
		m, _ = m.Update(msg)
	}
	return m
}

// runCmd runs cmd and returns its messages, a batch's flattened; a command
// that has not returned within a second (one waiting for the pipeline to
// stop) gives none.
func runCmd(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	select {
	case msg := <-ch:
		if batch, ok := msg.(tea.BatchMsg); ok {
			var out []tea.Msg
			for _, c := range batch {
				out = append(out, runCmd(c)...)
			}
			return out
		}
		if msg == nil {
			return nil
		}
		if _, quit := msg.(tea.QuitMsg); quit {
			return nil
		}
		return []tea.Msg{msg}
	case <-time.After(time.Second):
		return nil
	}
}

// staticSource is a tui.Source that shows one snapshot.
type staticSource struct{ snap *state.Snapshot }

func (s staticSource) Snapshot() *state.Snapshot { return s.snap }
func (staticSource) Pause()                      {}
func (staticSource) Resume()                     {}
func (staticSource) Subscribe(string) error      { return nil }
func (staticSource) Unsubscribe(string) error    { return nil }
func (staticSource) RecentCandles(context.Context, string, time.Duration, int) ([]agg.Candle, error) {
	return nil, nil
}

// TestSecretScanFindsEveryForm checks the scan the test above relies on: a
// secret planted the ways a program might show it, in any channel, is found.
func TestSecretScanFindsEveryForm(t *testing.T) {
	for _, secret := range testSecrets {
		j, _ := json.Marshal(map[string]string{"password": secret})
		plants := map[string]string{
			"as it is":       "password=" + secret,
			"in a url":       "wss://ws.finnhub.io?token=" + url.QueryEscape(secret),
			"quoted":         fmt.Sprintf("error: %q", secret),
			"in json":        string(j),
			"as sasl plain":  base64.StdEncoding.EncodeToString([]byte("\x00" + secretKafkaUser + "\x00" + secret)),
			"as basic auth":  "Basic " + base64.StdEncoding.EncodeToString([]byte(secretCassUser+":"+secret)),
			"as url base64":  base64.URLEncoding.EncodeToString([]byte("k=" + secret)),
			"shifted base64": base64.RawStdEncoding.EncodeToString([]byte("ab" + secret + "z")),
		}
		for how, text := range plants {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "tradetop.log"), []byte("x="+text+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			outs := outputs{"stdout": text}
			addDir(t, outs, dir)
			channels := []string{"stdout", "file tradetop.log"}
			// The UI shows no control character: a secret with one cannot
			// show there as it is.
			if !strings.ContainsFunc(text, unicode.IsControl) {
				addAll(outs, uiScreens(t, staticSource{&state.Snapshot{Time: time.Now(), Source: text}}, "planted"))
				channels = append(channels, "ui planted 400x100 dashboard")
			}
			leaks := findLeaks(outs, []string{secret})
			for _, where := range channels {
				if !slices.ContainsFunc(leaks, func(l string) bool { return strings.HasPrefix(l, where+" holds") }) {
					t.Errorf("%q %s in %s is not found", secret, how, where)
				}
			}
		}
	}
}
