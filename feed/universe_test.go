package feed

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tradetop/tradetop/trade"
)

func TestDefaultUniverse(t *testing.T) {
	u, err := loadDefaultUniverse()
	if err != nil {
		t.Fatalf("embedded universe does not parse: %v", err)
	}
	if DefaultUniverse() != u {
		t.Error("DefaultUniverse is not parsed once and shared")
	}
	ins := u.Instruments()
	if len(ins) < 24 {
		t.Errorf("%d instruments, want at least 24", len(ins))
	}
	if len(ins) != 50 {
		t.Errorf("%d instruments, want the 50 of the benchmarks", len(ins))
	}
	sectors := u.Sectors()
	if len(sectors) < 6 {
		t.Errorf("%d sectors, want at least 6", len(sectors))
	}
	if !slices.IsSorted(sectors) || len(slices.Compact(slices.Clone(sectors))) != len(sectors) {
		t.Errorf("sectors %q are not sorted and distinct", sectors)
	}
	seen := map[string]bool{}
	for _, in := range ins {
		if seen[in.Symbol] {
			t.Errorf("duplicate symbol %s", in.Symbol)
		}
		seen[in.Symbol] = true
		if in.Symbol == "" || len(in.Symbol) > trade.MaxSymbolLen || in.Name == "" || in.Sector == "" {
			t.Errorf("instrument %+v has an empty or overlong field", in)
		}
		if !slices.Contains(sectors, in.Sector) {
			t.Errorf("%s: sector %q missing from Sectors()", in.Symbol, in.Sector)
		}
		if in.Shares < 10_000_000 || in.Shares > 50_000_000_000 {
			t.Errorf("%s: implausible shares outstanding %d", in.Symbol, in.Shares)
		}
		if in.Price < 1 || in.Price > 10_000 {
			t.Errorf("%s: implausible reference price %v", in.Symbol, in.Price)
		}
		if got, ok := u.Lookup(in.Symbol); !ok || got != in {
			t.Errorf("Lookup(%s) = %+v, %v", in.Symbol, got, ok)
		}
		if got := u.Sector(in.Symbol); got != in.Sector {
			t.Errorf("Sector(%s) = %q, want %q", in.Symbol, got, in.Sector)
		}
	}
}

func TestUniverseAccessors(t *testing.T) {
	u := DefaultUniverse()
	if got := u.Sector("NOSUCH"); got != OtherSector {
		t.Errorf("Sector of an unknown symbol = %q, want %q", got, OtherSector)
	}
	if _, ok := u.Lookup("NOSUCH"); ok {
		t.Error("Lookup of an unknown symbol succeeded")
	}
	ins := u.Instruments()
	first := ins[0]
	ins[0].Symbol = "CHANGED"
	if u.Instruments()[0] != first {
		t.Error("Instruments exposes the universe's own slice")
	}
	s := u.Sectors()
	s[0] = "CHANGED"
	if u.Sectors()[0] == "CHANGED" {
		t.Error("Sectors exposes the universe's own slice")
	}
	if first.Symbol != "AAPL" {
		t.Errorf("first instrument %s, want AAPL: order is not the file's", first.Symbol)
	}
}

func TestLoadUniverse(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		want    []Instrument // checked when wantErr is empty
		wantErr []string     // substrings of the error
	}{
		{
			name: "with price",
			csv:  "symbol,name,sector,shares,price\nAAPL,Apple Inc.,Information Technology,100,230.5\nXOM,Exxon,Energy,50,112\n",
			want: []Instrument{
				{"AAPL", "Apple Inc.", "Information Technology", 100, 230.5},
				{"XOM", "Exxon", "Energy", 50, 112},
			},
		},
		{
			name: "without price column",
			csv:  "symbol,name,sector,shares\nAAPL,Apple Inc.,Information Technology,100\n",
			want: []Instrument{{"AAPL", "Apple Inc.", "Information Technology", 100, DefaultPrice}},
		},
		{
			name: "empty price cell",
			csv:  "symbol,name,sector,shares,price\nAAPL,Apple,Tech,100,\n",
			want: []Instrument{{"AAPL", "Apple", "Tech", 100, DefaultPrice}},
		},
		{
			name: "columns in another order, spaces, comments, blank lines, quotes, CRLF, BOM",
			csv:  "\ufeff# a comment\r\nPrice, Shares ,Symbol,Sector,Name\r\n\r\n 12.5 , 7 , KO ,Consumer Staples,\"Coca-Cola, Co.\"\r\n",
			want: []Instrument{{"KO", "Coca-Cola, Co.", "Consumer Staples", 7, 12.5}},
		},
		{
			name:    "missing column",
			csv:     "symbol,name,sector,shares,price\nAAPL,Apple,Tech,100,1\nMSFT,Microsoft,Tech\n",
			wantErr: []string{"line 3:", `missing column "shares"`},
		},
		{
			name:    "too many fields",
			csv:     "symbol,name,sector,shares\nAAPL,Apple,Tech,100,5\n",
			wantErr: []string{"line 2:", "5 fields, the header has 4"},
		},
		{
			name:    "empty symbol",
			csv:     "symbol,name,sector,shares\n# comment\n,Apple,Tech,100\n",
			wantErr: []string{"line 3:", "empty symbol"},
		},
		{
			name:    "symbol with a space",
			csv:     "symbol,name,sector,shares\nBRK B,Berkshire,Financials,100\n",
			wantErr: []string{"line 2:", `symbol "BRK B"`},
		},
		{
			name:    "duplicate symbol",
			csv:     "symbol,name,sector,shares\nAAPL,Apple,Tech,100\nMSFT,Microsoft,Tech,100\nAAPL,Apple again,Tech,100\n",
			wantErr: []string{"line 4:", `duplicate symbol "AAPL" (first on line 2)`},
		},
		{
			name:    "empty name",
			csv:     "symbol,name,sector,shares\nAAPL,,Tech,100\n",
			wantErr: []string{"line 2:", "empty name for AAPL"},
		},
		{
			name:    "empty sector",
			csv:     "symbol,name,sector,shares\nAAPL,Apple,,100\n",
			wantErr: []string{"line 2:", "empty sector for AAPL"},
		},
		{
			name:    "shares not a number",
			csv:     "symbol,name,sector,shares\nAAPL,Apple,Tech,lots\n",
			wantErr: []string{"line 2:", `bad shares "lots" for AAPL`},
		},
		{
			name:    "shares fractional",
			csv:     "symbol,name,sector,shares\nAAPL,Apple,Tech,1.5\n",
			wantErr: []string{"line 2:", `bad shares "1.5"`},
		},
		{
			name:    "shares zero",
			csv:     "symbol,name,sector,shares\nAAPL,Apple,Tech,0\n",
			wantErr: []string{"line 2:", `bad shares "0"`},
		},
		{
			name:    "price not a number",
			csv:     "symbol,name,sector,shares,price\nAAPL,Apple,Tech,100,cheap\n",
			wantErr: []string{"line 2:", `bad price "cheap" for AAPL`},
		},
		{
			name:    "price negative",
			csv:     "symbol,name,sector,shares,price\nAAPL,Apple,Tech,100,-3\n",
			wantErr: []string{"line 2:", `bad price "-3"`},
		},
		{
			name:    "price NaN",
			csv:     "symbol,name,sector,shares,price\nAAPL,Apple,Tech,100,NaN\n",
			wantErr: []string{"line 2:", `bad price "NaN"`},
		},
		{
			name:    "every bad line is reported",
			csv:     "symbol,name,sector,shares\n,A,S,1\nB,B,S,x\nC,C,S,1\nC,C,S,1\n",
			wantErr: []string{"line 2: empty symbol", `line 3: bad shares "x"`, `line 5: duplicate symbol "C"`},
		},
		{
			name:    "csv syntax error",
			csv:     "symbol,name,sector,shares\nAAPL,Ap\"ple,Tech,100\n",
			wantErr: []string{"line 2", "bare \""},
		},
		{
			name:    "unknown header column",
			csv:     "symbol,name,sector,shares,prise\nAAPL,Apple,Tech,100,1\n",
			wantErr: []string{"line 1:", `unknown column "prise"`},
		},
		{
			name:    "header column twice",
			csv:     "symbol,name,sector,shares,symbol\n",
			wantErr: []string{"line 1:", `column "symbol" twice`},
		},
		{
			name:    "header without shares",
			csv:     "# comment\nsymbol,name,sector\nAAPL,Apple,Tech\n",
			wantErr: []string{"line 2:", `missing column "shares" in header`},
		},
		{
			name:    "empty file",
			csv:     "",
			wantErr: []string{"no header"},
		},
		{
			name:    "header only",
			csv:     "symbol,name,sector,shares\n",
			wantErr: []string{"no instruments"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := LoadUniverse(strings.NewReader(tt.csv))
			checkLoaded(t, u, err, tt.want, tt.wantErr)
		})
	}
}

func TestLoadUniverseCapsReportedLines(t *testing.T) {
	var b strings.Builder
	b.WriteString("symbol,name,sector,shares\n")
	for range 25 {
		b.WriteString(",no symbol,S,1\n")
	}
	_, err := LoadUniverse(strings.NewReader(b.String()))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if n := strings.Count(msg, "empty symbol"); n != maxLineErrors {
		t.Errorf("%d lines reported, want %d", n, maxLineErrors)
	}
	if !strings.Contains(msg, "and 15 more bad lines") {
		t.Errorf("error %q does not count the lines left out", msg)
	}
}

func TestLoadUniverseYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []Instrument // checked when wantErr is empty
		wantErr []string     // substrings of the error
	}{
		{
			name: "with and without prices",
			yaml: `# Two instruments.
- symbol: AAPL
  name: Apple Inc.
  sector: Information Technology
  shares: 14_840_000_000
  price: 230.5
- {symbol: XOM, name: "Exxon Mobil", sector: Energy, shares: 4300000000}
- Symbol: KO
  NAME: Coca-Cola
  sector: Consumer Staples
  shares: 4310000000
  price: null
`,
			want: []Instrument{
				{"AAPL", "Apple Inc.", "Information Technology", 14_840_000_000, 230.5},
				{"XOM", "Exxon Mobil", "Energy", 4_300_000_000, DefaultPrice},
				{"KO", "Coca-Cola", "Consumer Staples", 4_310_000_000, DefaultPrice},
			},
		},
		{
			name: "symbols YAML 1.1 would read as booleans or numbers, a BOM, anchors",
			yaml: "\ufeff- &on {symbol: ON, name: ON Semiconductor, sector: &it Information Technology, shares: 420000000, price: 70}\n" +
				"- {symbol: NO, name: Norsk, sector: *it, shares: 1}\n" +
				"- {symbol: 1234, name: Number Co, sector: *it, shares: 1}\n",
			want: []Instrument{
				{"ON", "ON Semiconductor", "Information Technology", 420_000_000, 70},
				{"NO", "Norsk", "Information Technology", 1, DefaultPrice},
				{"1234", "Number Co", "Information Technology", 1, DefaultPrice},
			},
		},
		{
			name:    "not a list",
			yaml:    "# a comment\nsymbol: AAPL\n",
			wantErr: []string{"line 2:", "want a list of instruments, found a mapping"},
		},
		{
			name:    "a list of scalars",
			yaml:    "- AAPL\n- MSFT\n",
			wantErr: []string{"line 1:", `want an instrument (symbol, name, sector, shares, price), found the value "AAPL"`, "line 2:"},
		},
		{
			name:    "missing key",
			yaml:    "- symbol: AAPL\n  name: Apple\n  sector: Tech\n\n- symbol: MSFT\n  name: Microsoft\n  shares: 1\n",
			wantErr: []string{`line 1: missing key "shares"`, `line 5: missing key "sector"`},
		},
		{
			name:    "unknown key",
			yaml:    "- symbol: AAPL\n  name: Apple\n  sector: Tech\n  shares: 1\n  prise: 3\n",
			wantErr: []string{`line 5: unknown key "prise"`},
		},
		{
			name:    "key twice",
			yaml:    "- symbol: AAPL\n  name: Apple\n  Name: Apple again\n  sector: Tech\n  shares: 1\n",
			wantErr: []string{`line 3: key "name" twice`},
		},
		{
			name:    "list value",
			yaml:    "- symbol: AAPL\n  name: Apple\n  sector: [Tech, Hardware]\n  shares: 1\n",
			wantErr: []string{"line 3: sector: want a single value, found a list"},
		},
		{
			name:    "bad shares",
			yaml:    "- {symbol: A, name: A, sector: S, shares: 1}\n- {symbol: B, name: B, sector: S, shares: 1.5e9}\n",
			wantErr: []string{`line 2: bad shares "1.5e9" for B`},
		},
		{
			name:    "bad price",
			yaml:    "- {symbol: A, name: A, sector: S, shares: 1, price: -2}\n",
			wantErr: []string{`line 1: bad price "-2" for A`},
		},
		{
			name:    "empty symbol",
			yaml:    "- {symbol: '', name: A, sector: S, shares: 1}\n",
			wantErr: []string{"line 1: empty symbol"},
		},
		{
			name:    "duplicate symbol",
			yaml:    "- {symbol: A, name: A, sector: S, shares: 1}\n- {symbol: B, name: B, sector: S, shares: 1}\n- {symbol: A, name: A, sector: S, shares: 2}\n",
			wantErr: []string{`line 3: duplicate symbol "A" (first on line 1)`},
		},
		{
			name:    "syntax error",
			yaml:    "- symbol: AAPL\n  name: [Apple\n",
			wantErr: []string{"yaml:", "line"},
		},
		{
			name:    "empty file",
			yaml:    "",
			wantErr: []string{"no instruments"},
		},
		{
			name:    "only comments",
			yaml:    "# nothing\n",
			wantErr: []string{"no instruments"},
		},
		{
			name:    "empty list",
			yaml:    "[]\n",
			wantErr: []string{"no instruments"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := LoadUniverseYAML(strings.NewReader(tt.yaml))
			checkLoaded(t, u, err, tt.want, tt.wantErr)
		})
	}
}

func TestLoadUniverseYAMLCapsReportedLines(t *testing.T) {
	var b strings.Builder
	for range 25 {
		b.WriteString("- {symbol: '', name: N, sector: S, shares: 1}\n")
	}
	_, err := LoadUniverseYAML(strings.NewReader(b.String()))
	if err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(err.Error(), "empty symbol"); n != maxLineErrors {
		t.Errorf("%d lines reported, want %d", n, maxLineErrors)
	}
	if !strings.Contains(err.Error(), "and 15 more bad lines") {
		t.Errorf("error %q does not count the lines left out", err)
	}
}

func TestLoadUniverseFile(t *testing.T) {
	const csvText = "symbol,name,sector,shares\nAAPL,Apple Inc.,Information Technology,100\n"
	const yamlText = "- {symbol: AAPL, name: Apple Inc., sector: Information Technology, shares: 100}\n"
	want := []Instrument{{"AAPL", "Apple Inc.", "Information Technology", 100, DefaultPrice}}
	tests := []struct {
		name, file, content string
		wantErr             []string
	}{
		{name: "csv", file: "u.csv", content: csvText},
		{name: "yaml", file: "u.yaml", content: yamlText},
		{name: "yml in capitals", file: "U.YML", content: yamlText},
		{name: "csv with an error", file: "bad.csv", content: csvText + "MSFT,Microsoft,,1\n", wantErr: []string{"universe ", "bad.csv: line 3: empty sector for MSFT"}},
		{name: "yaml with an error", file: "bad.yaml", content: yamlText + "- {symbol: MSFT}\n", wantErr: []string{"bad.yaml: line 2: missing key"}},
		{name: "yaml content in a csv file", file: "u.csv", content: yamlText, wantErr: []string{"u.csv: line 1:"}},
		{name: "unknown extension", file: "u.json", content: csvText, wantErr: []string{"u.json", `unknown extension ".json": want .csv, .yaml or .yml`}},
		{name: "no extension", file: "universe", content: csvText, wantErr: []string{"universe", `unknown extension ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file, tt.content)
			u, err := LoadUniverseFile(path)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want one mentioning %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Instruments(); !slices.Equal(got, want) {
				t.Errorf("instruments %+v, want %+v", got, want)
			}
			if got := u.Sector("NOSUCH"); got != OtherSector {
				t.Errorf("Sector of an unknown symbol = %q, want %q", got, OtherSector)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := LoadUniverseFile("/nonexistent/universe.yaml")
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/nonexistent/universe.yaml") {
			t.Errorf("error %v, want a not-exist error naming the file", err)
		}
	})
	t.Run("the embedded universe as a file", func(t *testing.T) {
		u, err := LoadUniverseFile("universe.csv")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(u.Instruments(), DefaultUniverse().Instruments()) {
			t.Error("universe.csv read as a file differs from the default universe")
		}
	})
}

func TestMarketCap(t *testing.T) {
	u := DefaultUniverse()
	aapl, _ := u.Lookup("AAPL")
	tests := []struct {
		name   string
		symbol string
		price  float64
		want   float64
		wantOK bool
	}{
		{name: "known symbol", symbol: "AAPL", price: 200, want: 200 * float64(aapl.Shares), wantOK: true},
		{name: "known symbol at its reference price", symbol: "AAPL", price: aapl.Price, want: aapl.Price * float64(aapl.Shares), wantOK: true},
		{name: "unknown symbol", symbol: "BINANCE:BTCUSDT", price: 97000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := u.MarketCap(tt.symbol, tt.price)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("MarketCap(%s, %v) = %v, %v; want %v, %v", tt.symbol, tt.price, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// FuzzLoadUniverse reads arbitrary bytes as a CSV or a YAML universe: it
// never panics, and every instrument of a universe it returns is printable,
// with positive shares and price, and found by Lookup.
func FuzzLoadUniverse(f *testing.F) {
	f.Add([]byte("symbol,name,sector,shares,price\nAAPL,Apple Inc.,Information Technology,100,230.5\n"), false)
	f.Add([]byte("\ufeff# c\nPrice, Shares ,Symbol,Sector,Name\n 12.5 , 7 , KO ,Consumer Staples,\"Coca-Cola, Co.\"\n"), false)
	f.Add([]byte("- {symbol: ON, name: ON Semi, sector: &s IT, shares: 1_000}\n- {symbol: B, name: B, sector: *s, shares: 2, price: null}\n"), true)
	f.Add([]byte("- symbol: AAPL\n  name: Apple\n  sector: Tech\n  shares: 1\n  price: 1e3\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, isYAML bool) {
		load := LoadUniverse
		if isYAML {
			load = LoadUniverseYAML
		}
		u, err := load(bytes.NewReader(data))
		if err != nil {
			if u != nil {
				t.Fatal("a universe came back with the error")
			}
			// One line for each bad line reported, and one for the rest.
			checkErrorLines(t, err, maxLineErrors+1)
			return
		}
		if u.Len() == 0 {
			t.Fatal("an empty universe came back without an error")
		}
		for _, in := range u.Instruments() {
			if in.Symbol == "" || !trade.Printable(in.Symbol) || !trade.Printable(in.Name) || !trade.Printable(in.Sector) {
				t.Errorf("instrument %+v is not printable", in)
			}
			if in.Shares <= 0 || !(in.Price > 0) || in.Price > trade.MaxPrice {
				t.Errorf("instrument %+v has shares or price out of range", in)
			}
			if got, ok := u.Lookup(in.Symbol); !ok || got != in {
				t.Errorf("Lookup(%q) = %+v, %v", in.Symbol, got, ok)
			}
		}
	})
}

// checkLoaded checks what a universe loader returned: the instruments
// want, or an error mentioning every one of wantErr and no universe.
func checkLoaded(t *testing.T, u *Universe, err error, want []Instrument, wantErr []string) {
	t.Helper()
	if len(wantErr) > 0 {
		if err == nil {
			t.Fatalf("no error, want one mentioning %q", wantErr)
		}
		for _, w := range wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
		if u != nil {
			t.Error("a universe came back with the error")
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if got := u.Instruments(); !slices.Equal(got, want) {
		t.Errorf("instruments\n got %+v\nwant %+v", got, want)
	}
}

// writeFile writes content to a file named name in a test directory and
// returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
