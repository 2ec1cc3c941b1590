package feed

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/tradetop/tradetop/trade"
)

// OtherSector is the sector of a symbol the universe does not know.
const OtherSector = "Other"

// DefaultPrice is the reference price of an instrument whose universe file
// gives none (no price column, an empty cell, no price key). Prices only
// matter to the synthetic feed, which then starts every such instrument at
// DefaultPrice and weighs its liquidity by DefaultPrice × shares; live and
// replayed feeds bring their own prices, and market caps are computed from
// them (MarketCap).
const DefaultPrice = 100.0

// maxLineErrors bounds how many bad lines LoadUniverse reports one by one.
const maxLineErrors = 10

// maxExcerpt bounds how much of a bad value a universe error quotes.
const maxExcerpt = 40

// Instrument is one tradable symbol of a universe.
type Instrument struct {
	// Symbol is the ticker, as trades carry it ("AAPL").
	Symbol string
	// Name is the company name ("Apple Inc.").
	Name string
	// Sector is the GICS sector ("Information Technology").
	Sector string
	// Shares is the number of shares outstanding, > 0.
	Shares int64
	// Price is a reference price, > 0: the synthetic feed starts there.
	Price float64
}

// Universe is an immutable set of instruments, in the order of its file.
// It is safe for concurrent use by any number of goroutines.
type Universe struct {
	instruments []Instrument
	index       map[string]int
	sectors     []string
}

//go:embed universe.csv
var defaultUniverseCSV string

var (
	defaultOnce     sync.Once
	defaultUniverse *Universe
	defaultErr      error
)

// DefaultUniverse returns the built-in universe of 50 US large caps across the
// 11 GICS sectors. It is parsed once and shared. The embedded file is valid by
// construction (a test guards it); were it not, DefaultUniverse would return
// an empty universe and NewSynthetic would report the parse error.
func DefaultUniverse() *Universe {
	u, _ := loadDefaultUniverse()
	return u
}

// loadDefaultUniverse parses the embedded universe once and returns it with
// the parse error, if any. The universe is never nil.
func loadDefaultUniverse() (*Universe, error) {
	defaultOnce.Do(func() {
		defaultUniverse, defaultErr = LoadUniverse(strings.NewReader(defaultUniverseCSV))
		if defaultErr != nil {
			defaultErr = fmt.Errorf("default universe: %w", defaultErr)
			defaultUniverse = &Universe{}
		}
	})
	return defaultUniverse, defaultErr
}

// LoadUniverse reads a universe from CSV. The first record is a header naming
// the columns, in any order: symbol, name, sector and shares are required,
// price is optional (DefaultPrice when absent or empty). Lines starting with
// '#' are comments; blank lines and a leading UTF-8 byte order mark are
// skipped.
//
// Every bad line is reported with its line number and what is wrong with it
// (a missing column, an empty symbol, a duplicate symbol, bad shares, a bad
// price), the errors joined; a file with no instruments is an error too.
func LoadUniverse(r io.Reader) (*Universe, error) {
	br := bufio.NewReader(r)
	if bom, _ := br.Peek(3); string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty universe: no header line")
	}
	if err != nil {
		return nil, fmt.Errorf("reading universe header: %w", err)
	}
	headerLine, _ := cr.FieldPos(0)
	cols, err := parseHeader(header)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", headerLine, err)
	}

	b := newUniverseBuilder()
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A CSV syntax error names its own line; the reader cannot
			// resynchronise after it, so it ends the file.
			b.report(err)
			break
		}
		line, _ := cr.FieldPos(0)
		in, err := cols.instrument(rec)
		if err != nil {
			b.report(fmt.Errorf("line %d: %w", line, err))
			continue
		}
		b.add(in, line)
	}
	return b.universe()
}

// universeBuilder collects the instruments of a universe file and the
// errors of its bad lines, whatever the file's format.
type universeBuilder struct {
	u         *Universe
	firstLine map[string]int
	errs      []error
	bad       int
}

func newUniverseBuilder() *universeBuilder {
	return &universeBuilder{
		u:         &Universe{index: make(map[string]int)},
		firstLine: make(map[string]int),
	}
}

// report records a bad line; the first maxLineErrors are kept one by one,
// the rest only counted.
func (b *universeBuilder) report(err error) {
	b.bad++
	if b.bad <= maxLineErrors {
		b.errs = append(b.errs, err)
	}
}

// add appends in, found on line, unless its symbol came before.
func (b *universeBuilder) add(in Instrument, line int) {
	if prev, dup := b.firstLine[in.Symbol]; dup {
		b.report(fmt.Errorf("line %d: duplicate symbol %q (first on line %d)", line, in.Symbol, prev))
		return
	}
	b.firstLine[in.Symbol] = line
	b.u.index[in.Symbol] = len(b.u.instruments)
	b.u.instruments = append(b.u.instruments, in)
}

// universe returns the universe built, or every error reported, joined.
func (b *universeBuilder) universe() (*Universe, error) {
	if b.bad > maxLineErrors {
		b.errs = append(b.errs, fmt.Errorf("and %d more bad lines", b.bad-maxLineErrors))
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	u := b.u
	if len(u.instruments) == 0 {
		return nil, errors.New("empty universe: no instruments")
	}
	for _, in := range u.instruments {
		u.sectors = append(u.sectors, in.Sector)
	}
	slices.Sort(u.sectors)
	u.sectors = slices.Compact(u.sectors)
	return u, nil
}

// columns maps the universe columns to their positions in a record; price is
// -1 when the file has no price column.
type columns struct {
	names                               []string
	symbol, name, sector, shares, price int
}

// universeColumns are the columns of a universe, in the order of the
// positions in columns.
var universeColumns = []string{"symbol", "name", "sector", "shares", "price"}

func parseHeader(header []string) (columns, error) {
	c := columns{names: make([]string, len(header))}
	for i, h := range header {
		c.names[i] = strings.ToLower(strings.TrimSpace(h))
	}
	pos, err := CSVColumns(c.names, universeColumns, func(h string) error {
		return fmt.Errorf("unknown column %q in header (want symbol,name,sector,shares[,price])", trade.Excerpt(h, maxExcerpt))
	})
	if err != nil {
		return c, err
	}
	c.symbol, c.name, c.sector, c.shares, c.price = pos[0], pos[1], pos[2], pos[3], pos[4]
	for _, req := range []struct {
		name string
		pos  int
	}{{"symbol", c.symbol}, {"name", c.name}, {"sector", c.sector}, {"shares", c.shares}} {
		if req.pos < 0 {
			return c, fmt.Errorf("missing column %q in header", req.name)
		}
	}
	return c, nil
}

// instrument parses one record, reporting the first thing wrong with it.
func (c columns) instrument(rec []string) (Instrument, error) {
	if len(rec) < len(c.names) {
		return Instrument{}, fmt.Errorf("missing column %q (%d of %d fields)", c.names[len(rec)], len(rec), len(c.names))
	}
	if len(rec) > len(c.names) {
		return Instrument{}, fmt.Errorf("%d fields, the header has %d", len(rec), len(c.names))
	}
	field := func(i int) string { return strings.TrimSpace(rec[i]) }
	in := Instrument{
		Symbol: field(c.symbol),
		Name:   field(c.name),
		Sector: field(c.sector),
		Price:  DefaultPrice,
	}
	switch {
	case in.Symbol == "":
		return in, errors.New("empty symbol")
	case len(in.Symbol) > trade.MaxSymbolLen:
		return in, fmt.Errorf("symbol %q longer than %d bytes", trade.Excerpt(in.Symbol, maxExcerpt), trade.MaxSymbolLen)
	case !trade.Printable(in.Symbol) || strings.ContainsFunc(in.Symbol, unicode.IsSpace):
		return in, fmt.Errorf("symbol %q has spaces or control characters", in.Symbol)
	case in.Name == "":
		return in, fmt.Errorf("empty name for %s", in.Symbol)
	case !trade.Printable(in.Name):
		return in, fmt.Errorf("name of %s has control characters", in.Symbol)
	case in.Sector == "":
		return in, fmt.Errorf("empty sector for %s", in.Symbol)
	case !trade.Printable(in.Sector):
		return in, fmt.Errorf("sector of %s has control characters", in.Symbol)
	}
	shares, err := strconv.ParseInt(field(c.shares), 10, 64)
	if err != nil || shares <= 0 {
		return in, fmt.Errorf("bad shares %q for %s: want a whole number > 0", trade.Excerpt(field(c.shares), maxExcerpt), in.Symbol)
	}
	in.Shares = shares
	if c.price >= 0 && field(c.price) != "" {
		p, err := strconv.ParseFloat(field(c.price), 64)
		if err != nil || !(p > 0) || p > trade.MaxPrice {
			return in, fmt.Errorf("bad price %q for %s: want a number in (0, %g]", trade.Excerpt(field(c.price), maxExcerpt), in.Symbol, float64(trade.MaxPrice))
		}
		in.Price = p
	}
	return in, nil
}

// maxUniverseFile bounds the size of a YAML universe, read whole.
const maxUniverseFile = 64 << 20

// maxYAMLError bounds the YAML parser's error messages.
const maxYAMLError = 200

// LoadUniverseFile reads the universe in the file at path, in the format its
// extension names: .csv (LoadUniverse) or .yaml and .yml (LoadUniverseYAML),
// in any case. Every error names the file, and the line where there is one.
func LoadUniverseFile(path string) (*Universe, error) {
	var load func(io.Reader) (*Universe, error)
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".csv":
		load = LoadUniverse
	case ".yaml", ".yml":
		load = LoadUniverseYAML
	default:
		return nil, fmt.Errorf("universe %s: unknown extension %q: want .csv, .yaml or .yml", path, ext)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("universe: %w", err)
	}
	defer f.Close()
	u, err := load(f)
	if err != nil {
		return nil, fmt.Errorf("universe %s: %w", path, err)
	}
	return u, nil
}

// yamlColumns is where universeFromYAML puts each key of an instrument in the
// record it hands to columns.instrument.
var yamlColumns = columns{
	names:  universeColumns,
	symbol: 0, name: 1, sector: 2, shares: 3, price: 4,
}

// LoadUniverseYAML reads a universe from YAML: a list of mappings with the
// keys symbol, name, sector and shares, and optionally price (DefaultPrice
// when absent or null), as in
//
//	# A universe of one.
//	- symbol: AAPL
//	  name: Apple Inc.
//	  sector: Information Technology
//	  shares: 14_840_000_000
//	  price: 230
//
// Values are taken as the text they are written as, so symbols such as ON or
// NO stay symbols; shares may group digits with underscores. The rules and the
// errors are those of LoadUniverse, each with the line of the YAML node at
// fault; unknown and repeated keys are errors too.
func LoadUniverseYAML(r io.Reader) (u *Universe, err error) {
	data, err := io.ReadAll(io.LimitReader(r, maxUniverseFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading universe: %w", err)
	}
	if len(data) > maxUniverseFile {
		return nil, fmt.Errorf("universe larger than %d MiB", maxUniverseFile>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	// The YAML parser is third-party code fed untrusted input: a panic in
	// it is bad input, not a crash.
	defer func() {
		if p := recover(); p != nil {
			u, err = nil, fmt.Errorf("yaml: cannot parse: %s", trade.Excerpt(fmt.Sprint(p), maxYAMLError))
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// The parser quotes some input whole (an unknown anchor's name).
		return nil, errors.New(trade.Excerpt(err.Error(), maxYAMLError))
	}
	return universeFromYAML(&doc)
}

// universeFromYAML builds a universe from a parsed YAML document.
func universeFromYAML(doc *yaml.Node) (*Universe, error) {
	list := doc
	if list.Kind == yaml.DocumentNode && len(list.Content) > 0 {
		list = list.Content[0]
	}
	list = resolveAlias(list)
	switch {
	case list.Kind == 0 || list.Kind == yaml.DocumentNode || list.Tag == "!!null":
		return nil, errors.New("empty universe: no instruments")
	case list.Kind != yaml.SequenceNode:
		return nil, fmt.Errorf("line %d: want a list of instruments, found %s", list.Line, yamlKind(list))
	}
	b := newUniverseBuilder()
	for _, item := range list.Content {
		line := item.Line
		in, err := yamlInstrument(resolveAlias(item))
		if err != nil {
			b.report(err)
			continue
		}
		b.add(in, line)
	}
	return b.universe()
}

// yamlInstrument reads one list item, reporting the first thing wrong with
// it with the line of the node at fault.
func yamlInstrument(item *yaml.Node) (Instrument, error) {
	if item.Kind != yaml.MappingNode {
		return Instrument{}, fmt.Errorf("line %d: want an instrument (symbol, name, sector, shares, price), found %s", item.Line, yamlKind(item))
	}
	rec := make([]string, len(yamlColumns.names))
	seen := make([]bool, len(yamlColumns.names))
	for i := 0; i+1 < len(item.Content); i += 2 {
		k, v := resolveAlias(item.Content[i]), resolveAlias(item.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return Instrument{}, fmt.Errorf("line %d: want a key, found %s", k.Line, yamlKind(k))
		}
		key := strings.ToLower(strings.TrimSpace(k.Value))
		col := slices.Index(yamlColumns.names, key)
		switch {
		case col < 0:
			return Instrument{}, fmt.Errorf("line %d: unknown key %q (want symbol, name, sector, shares, price)", k.Line, trade.Excerpt(k.Value, maxExcerpt))
		case seen[col]:
			return Instrument{}, fmt.Errorf("line %d: key %q twice", k.Line, key)
		case v.Kind != yaml.ScalarNode:
			return Instrument{}, fmt.Errorf("line %d: %s: want a single value, found %s", v.Line, key, yamlKind(v))
		}
		seen[col] = true
		val := v.Value
		switch {
		case v.Tag == "!!null":
			val = ""
		case col == yamlColumns.shares:
			val = strings.ReplaceAll(val, "_", "")
		}
		rec[col] = val
	}
	for col, name := range yamlColumns.names {
		if !seen[col] && col != yamlColumns.price {
			return Instrument{}, fmt.Errorf("line %d: missing key %q", item.Line, name)
		}
	}
	in, err := yamlColumns.instrument(rec)
	if err != nil {
		return Instrument{}, fmt.Errorf("line %d: %w", item.Line, err)
	}
	return in, nil
}

// resolveAlias returns the node an alias stands for, or n itself.
func resolveAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// yamlKind names the kind of n for error messages.
func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", trade.Excerpt(n.Value, maxExcerpt))
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// Len is the number of instruments.
func (u *Universe) Len() int { return len(u.instruments) }

// Instruments returns a copy of the instruments, in the order of the file.
func (u *Universe) Instruments() []Instrument { return slices.Clone(u.instruments) }

// Lookup returns the instrument for symbol, and whether the universe has it.
func (u *Universe) Lookup(symbol string) (Instrument, bool) {
	i, ok := u.index[symbol]
	if !ok {
		return Instrument{}, false
	}
	return u.instruments[i], true
}

// Sector returns the sector of symbol, or OtherSector if the universe does not
// know it.
func (u *Universe) Sector(symbol string) string {
	if i, ok := u.index[symbol]; ok {
		return u.instruments[i].Sector
	}
	return OtherSector
}

// MarketCap returns price × the shares outstanding of symbol, and whether
// the universe knows symbol. Price is the trade price the caller has, not the
// universe's reference price.
func (u *Universe) MarketCap(symbol string, price float64) (float64, bool) {
	i, ok := u.index[symbol]
	if !ok {
		return 0, false
	}
	return price * float64(u.instruments[i].Shares), true
}

// Sectors returns the distinct sectors of the universe, sorted.
func (u *Universe) Sectors() []string { return slices.Clone(u.sectors) }
