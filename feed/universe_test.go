package feed

import (
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
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want one mentioning %q", tt.wantErr)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
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
			if got := u.Instruments(); !slices.Equal(got, tt.want) {
				t.Errorf("instruments\n got %+v\nwant %+v", got, tt.want)
			}
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
