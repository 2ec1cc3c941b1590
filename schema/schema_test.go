package schema

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/trade"
)

// samples are trades whose fields exercise the encodings: nanoseconds,
// fractions, long and non-ASCII strings.
func samples() []trade.Trade {
	at := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	return []trade.Trade{
		{ID: "s7-1-0", Symbol: "AAPL", Price: 187.25, Volume: 100, Time: at},
		{ID: "s7-1-1", Symbol: "BINANCE:BTCUSDT", Price: 43250.12345678, Volume: 0.00012, Time: at.Add(123456789 * time.Nanosecond)},
		{ID: "fh-" + strings.Repeat("x", 100), Symbol: "ÄÖÜ.DE", Price: 0.1 + 0.2, Volume: 1e15, Time: at.Add(999 * time.Nanosecond)},
		{ID: "r-3", Symbol: "T", Price: 1e12, Volume: 5e-324, Time: time.Date(2199, 12, 31, 23, 59, 59, 999999999, time.UTC)},
	}
}

// fixedRegistry is a Registry of fixed schemas.
type fixedRegistry map[uint32]string

func (r fixedRegistry) Schema(id uint32) (string, error) {
	if s, ok := r[id]; ok {
		return s, nil
	}
	if id == 999 {
		return "", fmt.Errorf("%w: down", ErrUnavailable)
	}
	return "", errors.New("no such schema")
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		enc  *Encoder
	}{
		{"json", NewEncoder(JSON, 0)},
		{"avro with the schema in a header", NewEncoder(Avro, 0)},
		{"avro in the registry's wire format", NewEncoder(Avro, 7)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(fixedRegistry{7: Text})
			_, header := tt.enc.Header()
			for _, in := range samples() {
				v := tt.enc.AppendValue([]byte("prefix"), &in)
				if !bytes.HasPrefix(v, []byte("prefix")) {
					t.Fatalf("AppendValue dropped what dst held")
				}
				var got trade.Trade
				if err := d.Decode(v[len("prefix"):], header, &got); err != nil {
					t.Fatalf("%+v: %v", in, err)
				}
				if got != in || got.Time.Location() != time.UTC {
					t.Errorf("round trip of %+v gave %+v", in, got)
				}
			}
		})
	}
	if k, v := NewEncoder(Avro, 0).Header(); k != HeaderKey || !json.Valid(v) {
		t.Errorf("plain Avro header %q = %q", k, v)
	}
	if k, v := NewEncoder(Avro, 7).Header(); k != "" || v != nil {
		t.Errorf("registry form has a header %q", k)
	}
	v := NewEncoder(Avro, 7).AppendValue(nil, &samples()[0])
	if v[0] != 0 || binary.BigEndian.Uint32(v[1:5]) != 7 {
		t.Errorf("registry form starts % x, want 00 and the id 7", v[:5])
	}
}

// TestForeignWriters decodes Avro written with schemas other than
// trade.avsc, as other producers of the topic may write it.
func TestForeignWriters(t *testing.T) {
	withoutNanos := `{"type":"record","name":"Trade","namespace":"io.tradetop","fields":[
		{"name":"id","type":"string"},{"name":"symbol","type":"string"},
		{"name":"price","type":"double"},{"name":"volume","type":"double"},
		{"name":"time","type":{"type":"long","logicalType":"timestamp-micros"}},
		{"name":"venue","type":"string"}]}`
	millis := strings.Replace(withoutNanos, "timestamp-micros", "timestamp-millis", 1)
	body := func(fields ...any) []byte {
		var b []byte
		for _, f := range fields {
			switch f := f.(type) {
			case string:
				b = binary.AppendVarint(b, int64(len(f)))
				b = append(b, f...)
			case float64:
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
			case int64:
				b = binary.AppendVarint(b, f)
			}
		}
		return b
	}
	at := time.Date(2026, 3, 2, 14, 30, 0, 5000, time.UTC)
	v := body("x-1", "MSFT", 410.5, 3.0, at.UnixMicro(), "XNAS")
	d := NewDecoder(fixedRegistry{3: withoutNanos, 4: millis, 5: `"string"`})
	var got trade.Trade
	if err := d.Decode(v, []byte(withoutNanos), &got); err != nil {
		t.Fatal(err)
	}
	if want := (trade.Trade{ID: "x-1", Symbol: "MSFT", Price: 410.5, Volume: 3, Time: at}); got != want {
		t.Errorf("a writer without nanos and with a venue: %+v, want %+v", got, want)
	}
	if err := d.Decode(append([]byte{0, 0, 0, 0, 3}, v...), nil, &got); err != nil || got.Symbol != "MSFT" {
		t.Errorf("the same through the registry: %+v, %v", got, err)
	}
	for _, tt := range []struct {
		name   string
		value  []byte
		header string
		want   string
	}{
		{"time in milliseconds", v, millis, "timestamp-micros"},
		{"time in milliseconds, registry", append([]byte{0, 0, 0, 0, 4}, v...), "", "timestamp-micros"},
		{"not a record", append([]byte{0, 0, 0, 0, 5}, v...), "", "not a record"},
		{"unknown id", append([]byte{0, 0, 0, 0, 6}, v...), "", "no such schema"},
		{"not a schema", v, `{"type":`, "not an Avro schema"},
		{"a field missing", body("x-1", "MSFT", 410.5), withoutNanos, "avro"},
		{"registry frame too short", []byte{0, 0, 1}, "", "too short"},
		{"nanos out of range", append(body("x", "M", 1.0, 1.0, at.UnixMicro()), binary.AppendVarint(nil, 1000)...), Text, "nanos"},
		{"a trade that fails validation", NewEncoder(Avro, 0).AppendValue(nil, &trade.Trade{ID: "x", Symbol: "M", Price: -1, Volume: 1, Time: at}), Text, "price"},
		{"json that is not a trade", []byte(`{"id":1}`), "", "invalid trade"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var h []byte
			if tt.header != "" {
				h = []byte(tt.header)
			}
			err := d.Decode(tt.value, h, &got)
			if !errors.Is(err, trade.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode = %v, want an invalid trade saying %q", err, tt.want)
			}
		})
	}
	err := d.Decode(append([]byte{0, 0, 0, 3, 231}, v...), nil, &got)
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, trade.ErrInvalid) {
		t.Errorf("a registry that is down: %v, want ErrUnavailable, not an invalid trade", err)
	}
	if err := NewDecoder(nil).Decode(append([]byte{0, 0, 0, 0, 3}, v...), nil, &got); !errors.Is(err, trade.ErrInvalid) || !strings.Contains(err.Error(), "--schema-registry") {
		t.Errorf("registry form without a registry: %v", err)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"json": JSON, "AVRO": Avro, " avro ": Avro} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("protobuf"); err == nil {
		t.Error("protobuf was taken")
	}
}

func FuzzDecode(f *testing.F) {
	at := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	tr := trade.Trade{ID: "a", Symbol: "B", Price: 1, Volume: 2, Time: at}
	f.Add(NewEncoder(Avro, 0).AppendValue(nil, &tr), true)
	f.Add(NewEncoder(Avro, 1).AppendValue(nil, &tr), false)
	f.Add(NewEncoder(JSON, 0).AppendValue(nil, &tr), false)
	f.Add([]byte{0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}, false)
	f.Add([]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, true)
	d := NewDecoder(fixedRegistry{1: Text})
	f.Fuzz(func(t *testing.T, value []byte, header bool) {
		var h []byte
		if header {
			h = []byte(Text)
		}
		var got trade.Trade
		if err := d.Decode(value, h, &got); err == nil {
			if err := got.Validate(); err != nil {
				t.Fatalf("decoded an invalid trade: %v", err)
			}
		}
	})
}

// TestInteropPython exchanges Avro with fastavro, an implementation
// tradetop did not write: it decodes what tradetop encodes, field by
// field, and tradetop decodes what it encodes, with trade.avsc and with a
// schema without nanos.
func TestInteropPython(t *testing.T) {
	py := e2e.Need(t, "a Python with fastavro installed (.ci/run makes one)", "TRADETOP_E2E_PYTHON")[0]
	dir := t.TempDir()
	schemaFile := filepath.Join(dir, "trade.avsc")
	if err := os.WriteFile(schemaFile, []byte(Text), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(mode string, lines []string) []string {
		t.Helper()
		cmd := exec.Command(py, "testdata/interop.py", mode, schemaFile)
		cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python %s: %v: %s", mode, err, stderr.String())
		}
		var got []string
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			got = append(got, sc.Text())
		}
		return got
	}

	// tradetop writes, fastavro reads.
	enc := NewEncoder(Avro, 0)
	var hexes []string
	for _, tr := range samples() {
		hexes = append(hexes, hex.EncodeToString(enc.AppendValue(nil, &tr)))
	}
	for i, line := range run("read", hexes) {
		var rec struct {
			ID, Symbol    string
			Price, Volume float64
			Time          int64
			Nanos         int32
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		in := samples()[i]
		got := trade.Trade{ID: rec.ID, Symbol: rec.Symbol, Price: rec.Price, Volume: rec.Volume,
			Time: time.UnixMicro(rec.Time).Add(time.Duration(rec.Nanos)).UTC()}
		if got != in {
			t.Errorf("fastavro read %+v, tradetop wrote %+v", got, in)
		}
	}

	// fastavro writes, tradetop reads.
	var recs []string
	for _, tr := range samples() {
		var r record
		r.from(&tr)
		b, err := json.Marshal(map[string]any{"id": r.ID, "symbol": r.Symbol, "price": r.Price, "volume": r.Volume, "time": r.Time, "nanos": r.Nanos})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, string(b))
	}
	d := NewDecoder(fixedRegistry{11: Text})
	for i, h := range run("write", recs) {
		v, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		var plain, framed trade.Trade
		if err := d.Decode(v, []byte(Text), &plain); err != nil {
			t.Fatalf("tradetop cannot read fastavro's %s: %v", h, err)
		}
		if err := d.Decode(append([]byte{0, 0, 0, 0, 11}, v...), nil, &framed); err != nil {
			t.Fatal(err)
		}
		if in := samples()[i]; plain != in || framed != in {
			t.Errorf("tradetop read %+v and %+v, fastavro wrote %+v", plain, framed, in)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	tr := samples()[1]
	for _, f := range []Format{JSON, Avro} {
		b.Run(string(f), func(b *testing.B) {
			enc := NewEncoder(f, 1)
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = enc.AppendValue(buf[:0], &tr)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	tr := samples()[1]
	for _, f := range []Format{JSON, Avro} {
		b.Run(string(f), func(b *testing.B) {
			v := NewEncoder(f, 1).AppendValue(nil, &tr)
			d := NewDecoder(fixedRegistry{1: Text})
			var got trade.Trade
			b.SetBytes(int64(len(v)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(v, nil, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestForm(t *testing.T) {
	tr := trade.Trade{ID: "x", Symbol: "AAPL", Price: 1, Volume: 1, Time: time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)}
	tests := []struct {
		name string
		enc  *Encoder
		want string
	}{
		{"json", NewEncoder(JSON, 0), "json"},
		{"plain avro", NewEncoder(Avro, 0), "avro"},
		{"registry avro", NewEncoder(Avro, 17), "avro registry id 17"},
	}
	for _, tc := range tests {
		_, header := tc.enc.Header()
		if got := Form(tc.enc.AppendValue(nil, &tr), header); got != tc.want {
			t.Errorf("%s: form %q, want %q", tc.name, got, tc.want)
		}
	}
}
