package feed

import (
	"bufio"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/tradetop/tradetop/trade"
)

// OtherSector is the sector of a symbol the universe does not know.
const OtherSector = "Other"

// DefaultPrice is the reference price of an instrument whose universe file has
// no price column, or an empty price cell.
const DefaultPrice = 100.0

// maxLineErrors bounds how many bad lines LoadUniverse reports one by one.
const maxLineErrors = 10

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

	u := &Universe{index: make(map[string]int)}
	var errs []error
	bad := 0
	report := func(err error) {
		bad++
		if bad <= maxLineErrors {
			errs = append(errs, err)
		}
	}
	firstLine := make(map[string]int)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A CSV syntax error names its own line; the reader cannot
			// resynchronise after it, so it ends the file.
			report(err)
			break
		}
		line, _ := cr.FieldPos(0)
		in, err := cols.instrument(rec)
		if err != nil {
			report(fmt.Errorf("line %d: %w", line, err))
			continue
		}
		if prev, dup := firstLine[in.Symbol]; dup {
			report(fmt.Errorf("line %d: duplicate symbol %q (first on line %d)", line, in.Symbol, prev))
			continue
		}
		firstLine[in.Symbol] = line
		u.index[in.Symbol] = len(u.instruments)
		u.instruments = append(u.instruments, in)
	}
	if bad > maxLineErrors {
		errs = append(errs, fmt.Errorf("and %d more bad lines", bad-maxLineErrors))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
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

func parseHeader(header []string) (columns, error) {
	c := columns{names: make([]string, len(header)), symbol: -1, name: -1, sector: -1, shares: -1, price: -1}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		c.names[i] = h
		var p *int
		switch h {
		case "symbol":
			p = &c.symbol
		case "name":
			p = &c.name
		case "sector":
			p = &c.sector
		case "shares":
			p = &c.shares
		case "price":
			p = &c.price
		default:
			return c, fmt.Errorf("unknown column %q in header (want symbol,name,sector,shares[,price])", h)
		}
		if *p >= 0 {
			return c, fmt.Errorf("column %q twice in header", h)
		}
		*p = i
	}
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
		return in, fmt.Errorf("symbol %q longer than %d bytes", in.Symbol, trade.MaxSymbolLen)
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
		return in, fmt.Errorf("bad shares %q for %s: want a whole number > 0", field(c.shares), in.Symbol)
	}
	in.Shares = shares
	if c.price >= 0 && field(c.price) != "" {
		p, err := strconv.ParseFloat(field(c.price), 64)
		if err != nil || !(p > 0) || p > trade.MaxPrice {
			return in, fmt.Errorf("bad price %q for %s: want a number in (0, %g]", field(c.price), in.Symbol, float64(trade.MaxPrice))
		}
		in.Price = p
	}
	return in, nil
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

// Sectors returns the distinct sectors of the universe, sorted.
func (u *Universe) Sectors() []string { return slices.Clone(u.sectors) }
