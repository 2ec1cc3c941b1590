package trade

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var sample = Trade{
	ID:     "s7-1767366000000-42",
	Symbol: "BINANCE:BTCUSDT",
	Price:  97123.45,
	Volume: 0.00123,
	Time:   time.Date(2026, 1, 2, 15, 0, 0, 123456789, time.UTC),
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Trade
	}{
		{"crypto", sample},
		{"stock", Trade{ID: "x-1", Symbol: "AAPL", Price: 189.23, Volume: 100, Time: sample.Time}},
		{"quotes and backslashes", Trade{ID: `a"b\c`, Symbol: `S"\`, Price: 1, Volume: 1, Time: sample.Time}},
		{"unicode", Trade{ID: "идентификатор-1", Symbol: "株", Price: 1e-8, Volume: 1e12, Time: sample.Time}},
		{"shortest float forms", Trade{ID: "f", Symbol: "F", Price: 0.1 + 0.2, Volume: 1.0 / 3, Time: sample.Time}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := AppendJSON(nil, &tt.in)
			var got Trade
			if err := UnmarshalJSON(data, &got); err != nil {
				t.Fatalf("decoding %s: %v", data, err)
			}
			if got != tt.in {
				t.Errorf("round trip of %s:\n got %+v\nwant %+v", data, got, tt.in)
			}
		})
	}
}

func TestWireForm(t *testing.T) {
	got := string(AppendJSON(nil, &Trade{ID: "s1-0-1", Symbol: "AAPL", Price: 189.23, Volume: 100, Time: time.Unix(0, 1767366000123456789)}))
	want := `{"id":"s1-0-1","s":"AAPL","p":189.23,"v":100,"t":1767366000123456789}`
	if got != want {
		t.Errorf("wire form\n got %s\nwant %s", got, want)
	}
}

func TestUnmarshalRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"not json", `hello`, "invalid"},
		{"empty", ``, "invalid"},
		{"array", `[1,2]`, "invalid"},
		{"price as string", `{"id":"a","s":"A","p":"1","v":1,"t":1767366000000000000}`, "invalid"},
		{"time as float", `{"id":"a","s":"A","p":1,"v":1,"t":1.5e18}`, "invalid"},
		{"missing id", `{"s":"A","p":1,"v":1,"t":1767366000000000000}`, "empty id"},
		{"missing symbol", `{"id":"a","p":1,"v":1,"t":1767366000000000000}`, "empty symbol"},
		{"zero price", `{"id":"a","s":"A","p":0,"v":1,"t":1767366000000000000}`, "price"},
		{"negative price", `{"id":"a","s":"A","p":-3,"v":1,"t":1767366000000000000}`, "price"},
		{"absurd price", `{"id":"a","s":"A","p":1e300,"v":1,"t":1767366000000000000}`, "price"},
		{"negative volume", `{"id":"a","s":"A","p":1,"v":-1,"t":1767366000000000000}`, "volume"},
		{"missing time", `{"id":"a","s":"A","p":1,"v":1}`, "time"},
		{"time before 1971", `{"id":"a","s":"A","p":1,"v":1,"t":1000}`, "time"},
		{"control character in symbol", `{"id":"a","s":"A\u0001","p":1,"v":1,"t":1767366000000000000}`, "symbol"},
		{"huge payload", `{"id":"` + strings.Repeat("x", MaxEncodedLen) + `"}`, "bytes"},
		{"overlong id", `{"id":"` + strings.Repeat("x", MaxIDLen+1) + `","s":"A","p":1,"v":1,"t":1767366000000000000}`, "id longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Trade
			err := UnmarshalJSON([]byte(tt.in), &got)
			if err == nil {
				t.Fatalf("decoded %q as %+v, want an error", tt.in, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestValidateRejectsNonFinite(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		tr := sample
		tr.Price = v
		if tr.Validate() == nil {
			t.Errorf("price %v accepted", v)
		}
		tr = sample
		tr.Volume = v
		if tr.Validate() == nil {
			t.Errorf("volume %v accepted", v)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(string(AppendJSON(nil, &sample)))
	f.Add(`{"id":"a","s":"A","p":1,"v":1,"t":1}`)
	f.Add(`{"id":"\u0000","s":"\ud800","p":1e400,"v":-0,"t":-1}`)
	f.Add(`nul`)
	f.Fuzz(func(t *testing.T, in string) {
		var tr Trade
		if err := UnmarshalJSON([]byte(in), &tr); err != nil {
			checkErrorLine(t, err)
			return
		}
		// Whatever decodes is valid and survives a round trip.
		if err := tr.Validate(); err != nil {
			t.Fatalf("decoded an invalid trade %+v: %v", tr, err)
		}
		var again Trade
		if err := UnmarshalJSON(AppendJSON(nil, &tr), &again); err != nil || again != tr {
			t.Fatalf("round trip of %+v: %+v, %v", tr, again, err)
		}
	})
}

// FuzzMessageValue feeds UnmarshalJSON what a partition worker feeds it:
// the value of a Kafka message, any bytes at all. Bad input is one error
// line wrapping ErrInvalid, which the worker counts and dead-letters; good
// input is a trade whose every field is in range, checked here without
// Validate, that encodes back within MaxEncodedLen to the same trade.
func FuzzMessageValue(f *testing.F) {
	f.Add(AppendJSON(nil, &sample))
	f.Add([]byte(`{"t":1767366000000000000,"v":1,"p":1,"s":"A","id":"a","x":[{}]}`))
	f.Add([]byte(`{"id":"a","s":"A","p":NaN,"v":Infinity,"t":1767366000000000000}`))
	f.Fuzz(func(t *testing.T, value []byte) {
		var tr Trade
		err := UnmarshalJSON(value, &tr)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			checkErrorLine(t, err)
			return
		}
		checkInRange(t, tr)
		enc := AppendJSON(nil, &tr)
		if len(enc) > MaxEncodedLen {
			t.Fatalf("a valid trade encodes to %d bytes, more than the %d a consumer takes", len(enc), MaxEncodedLen)
		}
		var again Trade
		if err := UnmarshalJSON(enc, &again); err != nil || again != tr {
			t.Fatalf("round trip of %+v: %+v, %v", tr, again, err)
		}
		if enc2 := AppendJSON(nil, &again); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %s then %s", enc, enc2)
		}
	})
}

// maxErrorLen bounds an error message: it may quote the input, but only a
// little of it.
const maxErrorLen = 512

// checkErrorLine fails unless err reads as one short line of text.
func checkErrorLine(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	switch {
	case strings.TrimSpace(msg) == "":
		t.Fatalf("empty error message %q", msg)
	case strings.ContainsAny(msg, "\n\r"):
		t.Fatalf("error %q is more than one line", msg)
	case len(msg) > maxErrorLen:
		t.Fatalf("error of %d bytes, more than %d: %.80q…", len(msg), maxErrorLen, msg)
	}
}

// checkInRange fails unless every field of tr is within the limits of a
// valid trade. It spells the limits out rather than calling Validate, so
// that it checks Validate too.
func checkInRange(t *testing.T, tr Trade) {
	t.Helper()
	text := func(field, s string, maxLen int) {
		if s == "" || len(s) > maxLen || !utf8.ValidString(s) {
			t.Fatalf("%s %q: empty, longer than %d bytes or not UTF-8", field, s, maxLen)
		}
		for _, r := range s {
			if r < 0x20 || r >= 0x7f && r < 0xa0 {
				t.Fatalf("%s %q holds the control character %U", field, s, r)
			}
		}
	}
	text("id", tr.ID, MaxIDLen)
	text("symbol", tr.Symbol, MaxSymbolLen)
	number := func(field string, v, limit float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > limit {
			t.Fatalf("%s %v is not in (0, %g]", field, v, limit)
		}
	}
	number("price", tr.Price, MaxPrice)
	number("volume", tr.Volume, MaxVolume)
	if tr.Time.Location() != time.UTC || tr.Time.Year() < 1971 || tr.Time.Year() > 2200 {
		t.Fatalf("time %v is not UTC between 1971 and 2200", tr.Time)
	}
}

// FuzzCompactMatchesJSON checks that the fast decoder accepts only what
// encoding/json decodes, and decodes it to the same values.
func FuzzCompactMatchesJSON(f *testing.F) {
	f.Add(string(AppendJSON(nil, &sample)))
	f.Add(`{"id":"a","s":"A","p":01,"v":1,"t":1}`)
	f.Add(`{"id":"a","s":"A","p":1e999,"v":-0.5e-3,"t":99999999999999999999}`)
	f.Add(`{"id":"a","s":"A","p":.5,"v":1.,"t":+1}`)
	f.Fuzz(func(t *testing.T, in string) {
		var fast wire
		if !decodeCompact([]byte(in), &fast) {
			return
		}
		var slow wire
		if err := json.Unmarshal([]byte(in), &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json says %v", in, err)
		}
		if fast != slow {
			t.Fatalf("%q: fast %+v, encoding/json %+v", in, fast, slow)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(AppendJSON(nil, &sample))))
	for b.Loop() {
		buf = AppendJSON(buf[:0], &sample)
	}
}

func BenchmarkUnmarshalJSON(b *testing.B) {
	data := AppendJSON(nil, &sample)
	var tr Trade
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := UnmarshalJSON(data, &tr); err != nil {
			b.Fatal(err)
		}
	}
}
