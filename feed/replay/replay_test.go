package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/trade"
)

// tr builds a trade for the tables.
func tr(id, symbol string, price, volume float64, at time.Time) trade.Trade {
	return trade.Trade{ID: id, Symbol: symbol, Price: price, Volume: volume, Time: at}
}

// t0 is 2026-01-02T15:00:00Z, the time of the replay tables' files.
var t0 = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

// idPrefixOf is the prefix of the IDs a replay gives the lines of content
// that have none.
func idPrefixOf(t testing.TB, content string) string {
	t.Helper()
	rf, err := openReplay(writeFile(t, "f", content))
	if err != nil {
		t.Fatal(err)
	}
	defer rf.close()
	return rf.dec.idPrefix
}

func TestNewReplayErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		cfg     func(t *testing.T) Config
		wantErr []string
	}{
		{
			name:    "no path",
			cfg:     func(*testing.T) Config { return Config{} },
			wantErr: []string{"replay: no file"},
		},
		{
			name:    "negative speed",
			cfg:     func(t *testing.T) Config { return Config{Path: "x", Speed: -1} },
			wantErr: []string{"speed -1"},
		},
		{
			name:    "infinite speed",
			cfg:     func(t *testing.T) Config { return Config{Path: "x", Speed: 1 / zero()} },
			wantErr: []string{"speed +Inf"},
		},
		{
			name:    "missing file",
			cfg:     func(*testing.T) Config { return Config{Path: filepath.Join(dir, "nope.jsonl")} },
			wantErr: []string{"nope.jsonl", "no such file"},
		},
		{
			name:    "directory",
			cfg:     func(*testing.T) Config { return Config{Path: dir} },
			wantErr: []string{dir, "is a directory"},
		},
		{
			name:    "empty file",
			cfg:     func(t *testing.T) Config { return Config{Path: writeFile(t, "empty.csv", "")} },
			wantErr: []string{"empty.csv", "no trades: the file is empty"},
		},
		{
			name: "only blank lines and comments",
			cfg: func(t *testing.T) Config {
				return Config{Path: writeFile(t, "blank.jsonl", "\n  \r\n# nothing\n")}
			},
			wantErr: []string{"blank.jsonl", "no trades"},
		},
		{
			name: "prose",
			cfg: func(t *testing.T) Config {
				return Config{Path: writeFile(t, "notes.txt", "# notes\nHello, world\n")}
			},
			wantErr: []string{"notes.txt", "unknown format: line 2 is neither a JSON trade nor a CSV header", "no column symbol, price, volume, ts"},
		},
		{
			name: "csv header without ts",
			cfg: func(t *testing.T) Config {
				return Config{Path: writeFile(t, "t.csv", "symbol,price,volume,time\nAAPL,1,1,1767366000\n")}
			},
			wantErr: []string{"t.csv", "line 1", "no column ts"},
		},
		{
			name: "csv header with a column twice",
			cfg: func(t *testing.T) Config {
				return Config{Path: writeFile(t, "t.csv", "symbol,price,volume,ts,Price\n")}
			},
			wantErr: []string{`column "price" twice`},
		},
		{
			name: "json array",
			cfg: func(t *testing.T) Config {
				return Config{Path: writeFile(t, "a.json", `[{"id":"a","s":"AAPL","p":1,"v":1,"t":1767366000000000000}]`)}
			},
			wantErr: []string{"unknown format"},
		},
		{
			name: "gzip",
			cfg: func(t *testing.T) Config {
				return Config{Path: writeFile(t, "t.jsonl.gz", "\x1f\x8b\x08\x00rest")}
			},
			wantErr: []string{"t.jsonl.gz", "gzip-compressed"},
		},
		{
			name: "first line too long",
			cfg: func(t *testing.T) Config {
				return Config{Path: writeFile(t, "long.csv", strings.Repeat("x", MaxLine+1)+"\n")}
			},
			wantErr: []string{"long.csv", "unknown format: line 1 is longer than"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg(t))
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if r != nil {
				t.Error("a replay came back with the error")
			}
		})
	}
}

// zero hides a zero from the constant folder.
func zero() float64 { return 0 }

func TestNewReplayUnreadable(t *testing.T) {
	path := writeFile(t, "secret.jsonl", `{"id":"a","s":"AAPL","p":1,"v":1,"t":1767366000000000000}`+"\n")
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(path); err == nil {
		f.Close()
		t.Skip("the file is readable anyway: running as root")
	}
	_, err := New(Config{Path: path})
	if err == nil || !strings.Contains(err.Error(), "secret.jsonl") || !errors.Is(err, os.ErrPermission) {
		t.Errorf("error %v, want a permission error naming the file", err)
	}
}

func TestReplayFormats(t *testing.T) {
	tests := []struct {
		name    string
		content string
		// want's IDs that end in "-<n>" with no other text stand for the
		// generated ID of line n.
		want []trade.Trade
	}{
		{
			name: "json lines",
			content: `{"id":"a-1","s":"AAPL","p":230.5,"v":100,"t":1767366000000000000}` + "\n" +
				`{"id":"a-2","s":"BINANCE:BTCUSDT","p":97000.25,"v":0.015,"t":1767366000000000001}` + "\n",
			want: []trade.Trade{
				tr("a-1", "AAPL", 230.5, 100, t0),
				tr("a-2", "BINANCE:BTCUSDT", 97000.25, 0.015, t0.Add(1)),
			},
		},
		{
			name: "json lines: no or empty ids, spaces, key order, CRLF, comments, blank lines, BOM, no final newline",
			content: "\ufeff# recorded by hand\r\n" +
				`{"s":"AAPL","p":1,"v":2,"t":1767366000000000000}` + "\r\n" +
				"\r\n" +
				`  { "t": 1767366001000000000, "v": 3, "p": 4, "s": "MSFT", "id": "" }  ` + "\n" +
				`{"id":"kept","s":"KO","p":5,"v":6,"t":1767366002000000000}`,
			want: []trade.Trade{
				tr("-2", "AAPL", 1, 2, t0),
				tr("-4", "MSFT", 4, 3, t0.Add(time.Second)),
				tr("kept", "KO", 5, 6, t0.Add(2*time.Second)),
			},
		},
		{
			name: "csv with RFC 3339 times",
			content: "symbol,price,volume,ts\n" +
				"AAPL,230.5,100,2026-01-02T15:00:00Z\n" +
				"MSFT,410,1,2026-01-02T16:00:00.123456789+01:00\n" +
				"KO,60,10,2026-01-02 15:00:01.5Z\n",
			want: []trade.Trade{
				tr("-2", "AAPL", 230.5, 100, t0),
				tr("-3", "MSFT", 410, 1, t0.Add(123456789)),
				tr("-4", "KO", 60, 10, t0.Add(1500*time.Millisecond)),
			},
		},
		{
			name: "csv with Unix times in s, ms, µs and ns",
			content: "symbol,price,volume,ts\n" +
				"A,1,1,1767366000\n" +
				"B,1,1,1767366000123\n" +
				"C,1,1,1767366000123456\n" +
				"D,1,1,1767366000123456789\n",
			want: []trade.Trade{
				tr("-2", "A", 1, 1, t0),
				tr("-3", "B", 1, 1, t0.Add(123*time.Millisecond)),
				tr("-4", "C", 1, 1, t0.Add(123456*time.Microsecond)),
				tr("-5", "D", 1, 1, t0.Add(123456789)),
			},
		},
		{
			name: "csv: columns in any order and case, extra columns, ids, quotes, spaces, comments, CRLF, BOM",
			content: "\ufeff# exported\r\n" +
				"TS, Conditions ,Volume,ID,Price,Symbol\r\n" +
				"1767366000000,\"1,12\",100,x-1,230.5,AAPL\r\n" +
				"\r\n" +
				"# a pause\r\n" +
				"1767366001000, , 5 ,,  10 , \"BRK \"\"B\"\"\"\r\n",
			want: []trade.Trade{
				tr("x-1", "AAPL", 230.5, 100, t0),
				tr("-6", `BRK "B"`, 10, 5, t0.Add(time.Second)),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "trades", tt.content)
			prefix := idPrefixOf(t, tt.content)
			want := slices.Clone(tt.want)
			for i := range want {
				if strings.HasPrefix(want[i].ID, "-") {
					want[i].ID = prefix + want[i].ID[1:]
				}
			}
			r := mustReplay(t, Config{Path: path})
			got := runAll(t, r)
			if !slices.EqualFunc(got, want, sameTrade) {
				t.Errorf("trades\n got %+v\nwant %+v", got, want)
			}
			if rep := r.Report(); rep.Bad != 0 || !rep.Connected {
				t.Errorf("Report() = %+v, want no bad lines and connected", rep)
			}
			for _, tr := range got {
				if tr.Time.Location() != time.UTC {
					t.Errorf("trade %s: time %v not in UTC", tr.ID, tr.Time)
				}
			}
		})
	}
}

// logRecorder is a slog handler that keeps the messages and attributes of
// what it is given.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "file" {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}

func TestReplayBadLines(t *testing.T) {
	good := func(id string, sec int) string {
		return fmt.Sprintf(`{"id":%q,"s":"AAPL","p":1,"v":1,"t":%d}`, id, t0.Add(time.Duration(sec)*time.Second).UnixNano())
	}
	tests := []struct {
		name    string
		content []string // lines
		wantIDs []string
		wantBad []string // "line N: …" prefixes, in order
	}{
		{
			name: "json",
			content: []string{
				good("a", 0),
				`{"id":"b","s":"AAPL","p":1,"v":1,"t":`, // cut short
				`{"id":"c","s":"AAPL","p":-1,"v":1,"t":1767366000000000000}`,
				`{"id":"d","s":"","p":1,"v":1,"t":1767366000000000000}`,
				`{"id":"e","s":"AAPL","p":1,"v":1,"t":0}`,
				`{"id":"f","s":"AAPL","p":"1","v":1,"t":1767366000000000000}`,
				`not json`,
				`{}`,
				`{"id":"` + strings.Repeat("i", trade.MaxIDLen+1) + `","s":"AAPL","p":1,"v":1,"t":1767366000000000000}`,
				good("g", 1),
			},
			wantIDs: []string{"a", "g"},
			wantBad: []string{
				"line 2: invalid trade",
				"line 3: invalid trade: price -1",
				"line 4: invalid trade: empty symbol",
				"line 5: invalid trade: time",
				"line 6: invalid trade",
				"line 7: invalid trade",
				"line 8: invalid trade",
				"line 9: invalid trade: id longer than 128 bytes",
			},
		},
		{
			name: "csv",
			content: []string{
				"id,symbol,price,volume,ts",
				"a,AAPL,1,1,1767366000",
				"b,AAPL,1,1",
				"c,AAPL,cheap,1,1767366000",
				"d,AAPL,1,lots,1767366000",
				"e,AAPL,1,1,yesterday",
				`f,"AAPL,1,1,1767366000`,
				`g,AA"PL,1,1,1767366000`,
				"h,AAPL,0,1,1767366000",
				"i,AAPL,1,1,1767366000,extra",
				"j,AAPL,1,1,2201-06-01T00:00:00Z",
				"k,AAPL,1,1,-5",
				"l,AAPL,1,NaN,1767366000",
				"m,AAPL,1,1,1767366001",
			},
			wantIDs: []string{"a", "m"},
			wantBad: []string{
				"line 3: 4 fields, the header has 5",
				`line 4: bad price "cheap"`,
				`line 5: bad volume "lots"`,
				`line 6: bad ts "yesterday": want RFC 3339`,
				"line 7: unterminated quoted field",
				`line 8: bare " in an unquoted field`,
				"line 9: invalid trade: price 0",
				"line 10: 6 fields, the header has 5",
				"line 11: invalid trade: time 2201-06-01T00:00:00Z out of range",
				`line 12: bad ts "-5"`,
				"line 13: invalid trade: volume NaN",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logRecorder{}
			r := mustReplay(t, Config{
				Path: writeFile(t, "bad", strings.Join(tt.content, "\n")+"\n"),
				Log:  slog.New(logs),
			})
			var ids []string
			var reports []feed.Report
			if err := r.Run(t.Context(), func(tr trade.Trade) error {
				ids = append(ids, tr.ID)
				reports = append(reports, r.Report())
				return nil
			}); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("trades %q, want %q", ids, tt.wantIDs)
			}
			rep := r.Report()
			if rep.Bad != int64(len(tt.wantBad)) {
				t.Errorf("Report().Bad = %d, want %d", rep.Bad, len(tt.wantBad))
			}
			if last := tt.wantBad[len(tt.wantBad)-1]; !strings.HasPrefix(rep.LastBad, last) {
				t.Errorf("Report().LastBad = %q, want it to start %q", rep.LastBad, last)
			}
			if reports[0].Bad != 0 {
				t.Errorf("bad lines counted before they were read: %+v", reports[0])
			}
			// The first few bad lines are logged one by one, with their
			// line numbers and what is wrong.
			var warned []string
			for _, l := range logs.lines {
				if strings.HasPrefix(l, "WARN replay: bad line skipped") {
					warned = append(warned, l)
				}
			}
			if len(warned) != maxLoggedBad {
				t.Fatalf("%d bad lines logged, want %d: %q", len(warned), maxLoggedBad, logs.lines)
			}
			for i, l := range warned {
				no, what, _ := strings.Cut(strings.TrimPrefix(tt.wantBad[i], "line "), ": ")
				if !strings.Contains(l, "line="+no+" ") || !strings.Contains(l, what) {
					t.Errorf("log %q does not say line %s: %s", l, no, what)
				}
			}
			end := logs.lines[len(logs.lines)-1]
			if want := fmt.Sprintf("INFO replay finished trades=%d bad_lines=%d", len(tt.wantIDs), len(tt.wantBad)); end != want {
				t.Errorf("last log %q, want %q", end, want)
			}
		})
	}
}

func TestReplayBadLinesLogSummaries(t *testing.T) {
	var b strings.Builder
	for range 1000 {
		b.WriteString("{\n")
	}
	b.WriteString(`{"id":"a","s":"AAPL","p":1,"v":1,"t":1767366000000000000}` + "\n")
	logs := &logRecorder{}
	r := mustReplay(t, Config{Path: writeFile(t, "bad.jsonl", b.String()), Log: slog.New(logs)})
	if got := runAll(t, r); len(got) != 1 {
		t.Fatalf("%d trades, want 1", len(got))
	}
	if rep := r.Report(); rep.Bad != 1000 || !strings.HasPrefix(rep.LastBad, "line 1000: ") {
		t.Errorf("Report() = %+v, want 1000 bad lines, the last on line 1000", rep)
	}
	var summaries []string
	for _, l := range logs.lines {
		if strings.HasPrefix(l, "WARN replay: bad lines skipped") {
			summaries = append(summaries, l)
		}
	}
	want := []string{"count=10 latest=line 10: ", "count=100 latest=line 100: ", "count=1000 latest=line 1000: "}
	if len(summaries) != len(want) {
		t.Fatalf("summaries %q, want %d", summaries, len(want))
	}
	for i, s := range summaries {
		if !strings.Contains(s, want[i]) {
			t.Errorf("summary %q does not say %q", s, want[i])
		}
	}
	if n := len(logs.lines); n != maxLoggedBad+len(want)+1 {
		t.Errorf("%d log lines for 1000 bad lines: %q", n, logs.lines)
	}
}

func TestReplayLongLine(t *testing.T) {
	good := `{"id":"a","s":"AAPL","p":1,"v":1,"t":1767366000000000000}`
	content := good + "\n" + strings.Repeat("x", MaxLine+1) + "\n" + strings.Replace(good, `"a"`, `"b"`, 1) + "\n" +
		strings.Repeat("y", 3*MaxLine) // no final newline
	r := mustReplay(t, Config{Path: writeFile(t, "long.jsonl", content)})
	got := runAll(t, r)
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Errorf("trades %+v, want a and b", got)
	}
	rep := r.Report()
	if rep.Bad != 2 || rep.LastBad != fmt.Sprintf("line 4: longer than %d bytes", MaxLine) {
		t.Errorf("Report() = %+v, want lines 2 and 4 bad for their length", rep)
	}
}

func TestLineReader(t *testing.T) {
	type line struct {
		text    string
		no      int
		tooLong bool
	}
	tests := []struct {
		name  string
		input string
		want  []line
	}{
		{name: "empty", input: ""},
		{name: "one line without an end", input: "abc", want: []line{{"abc", 1, false}}},
		{name: "line ends, a final \\r too", input: "a\nb\r\n\nc\r", want: []line{{"a", 1, false}, {"b", 2, false}, {"", 3, false}, {"c", 4, false}}},
		{name: "bom on line 1 only", input: "\ufeffa\n\ufeffb\n", want: []line{{"a", 1, false}, {"\ufeffb", 2, false}}},
		{
			name:  "lines longer than the buffer",
			input: strings.Repeat("a", 40) + "\n" + strings.Repeat("b", 33) + "\r\n" + strings.Repeat("c", 41) + "\nd",
			want:  []line{{strings.Repeat("a", 40), 1, false}, {strings.Repeat("b", 33), 2, false}, {"", 3, true}, {"d", 4, false}},
		},
		{
			name:  "a line of max bytes, and one of max+1 with its end",
			input: strings.Repeat("a", 40) + "\r\n" + strings.Repeat("b", 41) + "\n",
			want:  []line{{strings.Repeat("a", 40), 1, false}, {"", 2, true}},
		},
		{
			name:  "a long last line without an end",
			input: "a\n" + strings.Repeat("b", 100),
			want:  []line{{"a", 1, false}, {"", 2, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := newLineReader(strings.NewReader(tt.input), 16, 40)
			var got []line
			for range len(tt.input) + 2 {
				text, no, tooLong, err := lr.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, line{string(text), no, tooLong})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSplitCSV(t *testing.T) {
	tests := []struct {
		line    string
		want    []string
		wantErr string
	}{
		{line: "", want: []string{""}},
		{line: "a", want: []string{"a"}},
		{line: "a,b,,c,", want: []string{"a", "b", "", "c", ""}},
		{line: " a ,\tb\t", want: []string{"a", "b"}},
		{line: `"a,b",c`, want: []string{"a,b", "c"}},
		{line: `"say ""hi""", "x" ,""`, want: []string{`say "hi"`, "x", ""}},
		{line: `""""`, want: []string{`"`}},
		{line: `"a`, wantErr: "unterminated quoted field"},
		{line: `"a""`, wantErr: "unterminated quoted field"},
		{line: `"a"b`, wantErr: "text after a closing quote"},
		{line: `a"b`, wantErr: `bare " in an unquoted field`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			fields, err := splitCSV([]byte(tt.line), nil)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fields {
				got = append(got, string(f))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("fields %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseTradeTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "2026-01-02T15:00:00Z", want: t0},
		{in: "2026-01-02T15:00:00.000000001Z", want: t0.Add(1)},
		{in: "2026-01-02 10:00:00-05:00", want: t0},
		{in: "1767366000", want: t0},
		{in: "9999999999", want: time.Unix(9999999999, 0)},
		{in: "10000000000", want: time.UnixMilli(1e10)},
		{in: "1767366000001", want: t0.Add(time.Millisecond)},
		{in: "1767366000000001", want: t0.Add(time.Microsecond)},
		{in: "1767366000000000001", want: t0.Add(1)},
		{in: "99999999999999999999", wantErr: true},
		{in: "2026-01-02T15:00:00", wantErr: true},
		{in: "1767366000.5", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTradeTime([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("got %v, %v; want %v in UTC", got, err, tt.want)
			}
		})
	}
}

func TestReplayIDs(t *testing.T) {
	const content = "symbol,price,volume,ts\nAAPL,1,1,1767366000\nMSFT,2,2,1767366001\n"
	a := writeFile(t, "a.csv", content)
	b := writeFile(t, "b.csv", content)
	c := writeFile(t, "c.csv", strings.Replace(content, "MSFT,2", "MSFT,3", 1))
	ids := func(path string) []string {
		var out []string
		for _, tr := range runAll(t, mustReplay(t, Config{Path: path})) {
			out = append(out, tr.ID)
		}
		return out
	}
	first := ids(a)
	if len(first) != 2 || !strings.HasPrefix(first[0], "r-") || !strings.HasSuffix(first[0], "-2") || !strings.HasSuffix(first[1], "-3") {
		t.Fatalf("IDs %q, want r-<hash>-2 and r-<hash>-3", first)
	}
	if len(first[0]) != len("r-")+12+len("-2") {
		t.Errorf("ID %q: want a hash of 12 hex digits", first[0])
	}
	tests := []struct {
		name string
		path string
		same bool
	}{
		{name: "the same file again", path: a, same: true},
		{name: "a copy under another name", path: b, same: true},
		{name: "another file", path: c, same: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(tt.path); slices.Equal(got, first) != tt.same {
				t.Errorf("IDs %q against %q: same = %v, want %v", got, first, !tt.same, tt.same)
			}
		})
	}
	// One source run twice gives the same IDs too.
	r := mustReplay(t, Config{Path: a})
	if x, y := runAll(t, r), runAll(t, r); !slices.EqualFunc(x, y, sameTrade) {
		t.Error("two runs of one replay differ")
	}
}

func TestReplayShiftToNow(t *testing.T) {
	content := []string{
		`{"id":"a","s":"AAPL","p":1,"v":1,"t":1767366000000000000}`,
		`{"id":"b","s":"AAPL","p":1,"v":1,"t":1767366005000000000}`,
		`{"id":"c","s":"AAPL","p":1,"v":1,"t":1767365999000000000}`,
	}
	path := writeFile(t, "shift.jsonl", strings.Join(content, "\n"))
	orig := runAll(t, mustReplay(t, Config{Path: path}))
	tests := []struct {
		name string
		now  time.Time
	}{
		{name: "later", now: time.Date(2026, 3, 4, 5, 6, 7, 89, time.UTC)},
		{name: "earlier", now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "same", now: t0},
		{name: "local zone", now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("EST", -5*3600))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			r := mustReplay(t, Config{Path: path, ShiftToNow: true, Now: func() time.Time {
				calls++
				return tt.now
			}})
			got := runAll(t, r)
			if len(got) != len(orig) {
				t.Fatalf("%d trades, want %d", len(got), len(orig))
			}
			anchor := tt.now.Truncate(time.Millisecond)
			if !got[0].Time.Equal(anchor) {
				t.Errorf("first trade at %v, want now in whole milliseconds, %v", got[0].Time, anchor)
			}
			shift := anchor.Sub(orig[0].Time)
			prefix := "@" + strconv.FormatInt(anchor.UnixMilli(), 10) + ":"
			for i := range got {
				want := orig[i]
				want.Time = want.Time.Add(shift)
				want.ID = prefix + want.ID
				if !sameTrade(got[i], want) || got[i].Time.Location() != time.UTC {
					t.Errorf("trade %d = %+v, want %+v (moved by %s, in UTC)", i, got[i], want, shift)
				}
			}
			if calls != 1 {
				t.Errorf("Now called %d times, want once", calls)
			}
		})
	}
	t.Run("one ID names one time", func(t *testing.T) {
		// Two replays shifted to different moments are different trades;
		// the same moment gives the same trades again.
		at := func(now time.Time) []trade.Trade {
			return runAll(t, mustReplay(t, Config{Path: path, ShiftToNow: true, Now: func() time.Time { return now }}))
		}
		now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		x, again, y := at(now), at(now.Add(400*time.Microsecond)), at(now.Add(time.Millisecond))
		if !slices.EqualFunc(x, again, sameTrade) {
			t.Errorf("replays anchored in the same millisecond differ:\n%+v\n%+v", x, again)
		}
		times := map[string]time.Time{}
		for _, tr := range append(x, y...) {
			if prev, ok := times[tr.ID]; ok && !prev.Equal(tr.Time) {
				t.Errorf("ID %q names two times, %v and %v", tr.ID, prev, tr.Time)
			}
			times[tr.ID] = tr.Time
		}
		if len(times) != 2*len(orig) {
			t.Errorf("%d distinct IDs over two shifted replays of %d trades, want %d", len(times), len(orig), 2*len(orig))
		}
	})
	t.Run("a long ID is hashed, not cut", func(t *testing.T) {
		long := strings.Repeat("x", trade.MaxIDLen)
		p := writeFile(t, "long.jsonl", `{"id":"`+long+`","s":"AAPL","p":1,"v":1,"t":1767366000000000000}`+"\n"+
			`{"id":"`+long[:trade.MaxIDLen-1]+`y","s":"AAPL","p":1,"v":1,"t":1767366001000000000}`)
		got := runAll(t, mustReplay(t, Config{Path: p, ShiftToNow: true, Now: func() time.Time { return t0 }}))
		if len(got) != 2 || got[0].ID == got[1].ID {
			t.Fatalf("trades %+v, want two with distinct IDs", got)
		}
		for _, tr := range got {
			if len(tr.ID) > trade.MaxIDLen || !strings.HasPrefix(tr.ID, "@1767366000000:h") {
				t.Errorf("ID %q: want @1767366000000:h<hash> within %d bytes", tr.ID, trade.MaxIDLen)
			}
		}
	})
	t.Run("a shift out of range is a bad line", func(t *testing.T) {
		r := mustReplay(t, Config{Path: path, ShiftToNow: true, Now: func() time.Time {
			return time.Date(2200, 12, 31, 23, 59, 58, 0, time.UTC)
		}})
		got := runAll(t, r)
		if len(got) != 2 || !strings.HasSuffix(got[0].ID, ":a") || !strings.HasSuffix(got[1].ID, ":c") {
			t.Errorf("trades %+v, want a and c", got)
		}
		if rep := r.Report(); rep.Bad != 1 || !strings.HasPrefix(rep.LastBad, "line 2: shifted to now: invalid trade: time") {
			t.Errorf("Report() = %+v, want line 2 bad", rep)
		}
	})
}

// pacedFile holds trades at these offsets from t0, in seconds, out of order
// in places.
var pacedOffsets = []float64{0, 1, 1, 3, 2, 4, 4.5}

func pacedFile(t testing.TB) string {
	var b strings.Builder
	b.WriteString("symbol,price,volume,ts\n")
	for _, off := range pacedOffsets {
		fmt.Fprintf(&b, "AAPL,1,1,%d\n", t0.Add(time.Duration(off*float64(time.Second))).UnixNano())
	}
	return writeFile(t, "paced.csv", b.String())
}

func TestReplayPacing(t *testing.T) {
	tests := []struct {
		name  string
		speed float64
		// stall is how long emit blocks at the trade of that index.
		stall map[int]time.Duration
		// want is when each trade goes out, in seconds after the first.
		want []float64
	}{
		{name: "max speed", speed: 0, want: []float64{0, 0, 0, 0, 0, 0, 0}},
		{name: "real time", speed: 1, want: []float64{0, 1, 1, 3, 3, 4, 4.5}},
		{name: "ten times", speed: 10, want: []float64{0, 0.1, 0.1, 0.3, 0.3, 0.4, 0.45}},
		{name: "half speed", speed: 0.5, want: []float64{0, 2, 2, 6, 6, 8, 9}},
		{
			// A stall of 5s at trade 2 puts the replay 4s behind trade 3's
			// time: it goes out at once, the schedule moving on by all
			// but 100ms of the delay.
			name: "catching up after a stall", speed: 1,
			stall: map[int]time.Duration{2: 5 * time.Second},
			want:  []float64{0, 1, 1, 6, 6, 6.9, 7.4},
		},
		{
			// Behind by 50ms only: it catches up fully.
			name: "a short stall", speed: 1,
			stall: map[int]time.Duration{2: 2050 * time.Millisecond},
			want:  []float64{0, 1, 1, 3.05, 3.05, 4, 4.5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := pacedFile(t)
			synctest.Test(t, func(t *testing.T) {
				r := mustReplay(t, Config{Path: path, Speed: tt.speed})
				start := time.Now()
				var got []float64
				i := 0
				err := r.Run(t.Context(), func(trade.Trade) error {
					got = append(got, time.Since(start).Seconds())
					time.Sleep(tt.stall[i])
					i++
					return nil
				})
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if !slices.EqualFunc(got, tt.want, func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }) {
					t.Errorf("trades went out at %v s, want %v s", got, tt.want)
				}
			})
		})
	}
}

func TestReplayStops(t *testing.T) {
	errStop := errors.New("stop")
	tests := []struct {
		name    string
		speed   float64
		cancel  int // cancel ctx when emit gets the trade of this index
		emitErr int // or emit fails at this index
		want    error
		wantN   int // trades emitted
	}{
		{name: "cancelled while sleeping", speed: 1, cancel: 1, emitErr: -1, want: context.Canceled, wantN: 2},
		{name: "cancelled at max speed", speed: 0, cancel: 0, emitErr: -1, want: context.Canceled},
		{name: "emit fails", speed: 0, cancel: -1, emitErr: 3, want: errStop, wantN: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// At max speed, a replay looks at ctx every feed.CtxCheckEvery
			// lines, so the file needs more than that.
			var b strings.Builder
			b.WriteString("symbol,price,volume,ts\n")
			for i := range 3 * feed.CtxCheckEvery {
				fmt.Fprintf(&b, "AAPL,1,1,%d\n", t0.Add(time.Duration(i)*time.Second).UnixNano())
			}
			path := writeFile(t, "stop.csv", b.String())
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				r := mustReplay(t, Config{Path: path, Speed: tt.speed})
				n := 0
				err := r.Run(ctx, func(trade.Trade) error {
					defer func() { n++ }()
					if n == tt.emitErr {
						return errStop
					}
					if n == tt.cancel {
						cancel()
					}
					return nil
				})
				if !errors.Is(err, tt.want) {
					t.Errorf("Run returned %v, want %v", err, tt.want)
				}
				if tt.wantN > 0 && n != tt.wantN {
					t.Errorf("%d trades emitted, want %d", n, tt.wantN)
				}
				if n > feed.CtxCheckEvery+1 {
					t.Errorf("%d trades emitted after the cancellation", n)
				}
			})
		})
	}
}

func TestReplayReportRestartsWithRun(t *testing.T) {
	path := writeFile(t, "bad.jsonl", "{\n"+`{"id":"a","s":"AAPL","p":1,"v":1,"t":1767366000000000000}`+"\n")
	r := mustReplay(t, Config{Path: path})
	if got := r.Report(); got != (feed.Report{Connected: true}) {
		t.Errorf("Report() before Run = %+v, want only connected", got)
	}
	for range 2 {
		runAll(t, r)
		if got := r.Report(); got.Bad != 1 {
			t.Errorf("Report().Bad = %d after a run, want 1", got.Bad)
		}
	}
}

func TestReplayName(t *testing.T) {
	path := writeFile(t, "trades.jsonl", `{"id":"a","s":"AAPL","p":1,"v":1,"t":1767366000000000000}`)
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Path: path}, "replay trades.jsonl at max speed"},
		{Config{Path: path, Speed: 1}, "replay trades.jsonl at 1×"},
		{Config{Path: path, Speed: 2.5, ShiftToNow: true}, "replay trades.jsonl at 2.5×, shifted to now"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := mustReplay(t, tt.cfg).Name(); got != tt.want {
				t.Errorf("Name() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReplaySample replays the shipped sample recording at max speed: it
// yields exactly the trades it was recorded from.
func TestReplaySample(t *testing.T) {
	r := mustReplay(t, Config{Path: samplePath})
	got := runAll(t, r)
	want := runAll(t, sampleSource(t))
	if len(got) != len(want) {
		t.Fatalf("%d trades replayed, want %d", len(got), len(want))
	}
	for i := range got {
		if !sameTrade(got[i], want[i]) {
			t.Fatalf("trade %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if rep := r.Report(); rep.Bad != 0 {
		t.Errorf("%d bad lines in the sample, the latest %q", rep.Bad, rep.LastBad)
	}
}

// FuzzReplayLine feeds arbitrary lines to the JSON decoder and, under an
// arbitrary header when it is a valid one, to the CSV decoder: they never
// panic, and every trade they return is valid.
func FuzzReplayLine(f *testing.F) {
	f.Add([]byte(`{"id":"s42-1767366000000-5","s":"WFC","p":80.01,"v":100,"t":1767366000003982000}`), "symbol,price,volume,ts")
	f.Add([]byte(`{"s":"AAPL","p":1,"v":1,"t":1767366000000000000}`), "id,symbol,price,volume,ts")
	f.Add([]byte(`AAPL,230.5,100,2026-01-02T15:00:00Z`), "symbol,price,volume,ts")
	f.Add([]byte(`x-1,"BRK ""B""",1e3,0.5,1767366000123`), "ID,Symbol,Price,Volume,TS")
	f.Add([]byte(`1767366000000000001, ,5,,10,"a,b"`), "ts,conditions,volume,id,price,symbol")
	f.Fuzz(func(t *testing.T, line []byte, header string) {
		decoders := []*lineDecoder{newJSONDecoder("r-0123456789ab-")}
		if d, err := newCSVDecoder([]byte(header), "r-0123456789ab-"); err == nil {
			decoders = append(decoders, d)
		} else {
			checkErrorLines(t, err, 1)
		}
		for _, d := range decoders {
			tr, err := d.decode(line, 7)
			if err != nil {
				checkErrorLines(t, err, 1)
				continue
			}
			if verr := tr.Validate(); verr != nil {
				t.Fatalf("csv=%v: decoded an invalid trade %+v: %v", d.csv, tr, verr)
			}
		}
	})
}
