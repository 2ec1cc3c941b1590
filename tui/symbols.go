package tui

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/canvas/runes"
	"github.com/NimbleMarkets/ntcharts/sparkline"

	"github.com/tradetop/tradetop/agg"
	"github.com/tradetop/tradetop/state"
)

// sortKey is an order of the symbols table.
type sortKey int

const (
	bySymbol sortKey = iota
	byChange
	byVolume
	byRate
	bySector
	sortKeys
)

var sortNames = [sortKeys]string{"symbol", "chg%", "vol 1m", "trades/s", "sector"}

// descending is each key's natural direction: biggest movers first.
var descending = [sortKeys]bool{false, true, true, true, false}

// symbolRow is one line of the table.
type symbolRow struct {
	agg.SymbolStats
	change float64 // % since the session open
	vol1m  float64
	rate   float64 // trades per second
	spark  string  // the rendered sparkline
}

// symbolsPane is the table of symbols: price, change, one-minute volume,
// trade rate and a price sparkline, sortable and filterable, a symbol for
// which an alert fires marked "!". Its rows are rebuilt on each snapshot;
// selection follows the symbol, not the row, so it stays put as the order
// changes.
type symbolsPane struct {
	st *Styles
	// empty says why no symbol is shown: "" while waiting for trades, or
	// where they are aggregated instead.
	empty    string
	hist     *history
	w, h     int
	typing   bool        // the filter is being typed on the pane's last line
	rows     []symbolRow // every symbol, sorted
	shown    []int       // indices into rows that pass the filter
	sort     sortKey
	reverse  bool
	filter   string
	selected string
	picked   bool // the user chose the selection; until then it is the top row
	offset   int  // first shown row on screen

	// alerting are the symbols an alert fires for now.
	alerting map[string]bool

	cols   symbolCols
	step   int // seconds per sparkline column
	sparks map[string]*spark
	values []float64 // scratch
	key    []rune    // scratch
	// mcap gives a symbol's market value at a price; nil: no MCAP column.
	mcap func(symbol string, price float64) (float64, bool)
}

func newSymbolsPane(st *Styles, h *history, mcap func(string, float64) (float64, bool)) symbolsPane {
	return symbolsPane{st: st, hist: h, mcap: mcap, sparks: map[string]*spark{}, step: 1}
}

// spark is a symbol's sparkline and what it last drew: a column's glyph
// moves by eighths, so most snapshots change none and the drawing is kept.
type spark struct {
	sparkline.Model
	key  string // the glyphs and the trend of the drawing
	view string // the drawing
}

// symbolCols is the table's column plan for a width.
type symbolCols struct {
	symbol, trend                         int
	sector, high, low, trades, vwap, mcap bool
}

// Column widths.
const (
	colLast   = 10
	colChange = 8
	colVol    = 8
	colRate   = 8
	colSector = 14
	colPrice  = 10
	colTrades = 9
	colMcap   = 9
	minTrend  = 10
	maxTrend  = 60
)

// SetSize gives the pane its outer size.
func (p *symbolsPane) SetSize(w, h int) {
	p.w, p.h = w, h
	if cols := p.plan(w - 4); cols != p.cols {
		p.cols = cols
		p.step = p.hist.sparkStep(cols.trend)
		p.drawSparks()
	}
	p.clampOffset()
}

// plan fits the columns into content width cw: the sparkline gets what the
// fixed columns leave, and optional columns come in while it keeps at least
// three times its minimum.
func (p *symbolsPane) plan(cw int) symbolCols {
	c := symbolCols{symbol: 7}
	for _, r := range p.rows {
		c.symbol = max(c.symbol, min(len(r.Symbol), 12))
	}
	fixed := 2 + c.symbol + colLast + colChange + colVol + colRate + 2
	rest := cw - fixed
	opt := []struct {
		on   *bool
		w    int
		skip bool
	}{{&c.sector, colSector, false}, {&c.mcap, colMcap, p.mcap == nil}, {&c.high, colPrice, false}, {&c.low, colPrice, false},
		{&c.vwap, colPrice, false}, {&c.trades, colTrades, false}}
	for _, o := range opt {
		if !o.skip && rest-o.w >= 3*minTrend {
			*o.on = true
			rest -= o.w
		}
	}
	c.trend = min(max(rest, 0), maxTrend)
	if c.trend < minTrend/2 {
		c.trend = 0
	}
	return c
}

// update rebuilds the rows from the snapshot's statistics, its alerts
// firing and the history.
func (p *symbolsPane) update(stats []agg.SymbolStats, alerts []state.Alert) {
	clear(p.alerting)
	for _, a := range alerts {
		if a.Symbol != "" {
			if p.alerting == nil {
				p.alerting = map[string]bool{}
			}
			p.alerting[a.Symbol] = true
		}
	}
	h := p.hist
	p.rows = p.rows[:0]
	for _, s := range stats {
		r := symbolRow{SymbolStats: s, change: math.NaN()}
		if s.First > 0 {
			r.change = (s.Last - s.First) / s.First * 100
		}
		r.vol1m, r.rate = h.volumeOver(s.Symbol, 60)
		p.rows = append(p.rows, r)
	}
	p.cols = p.plan(p.w - 4)
	p.step = h.sparkStep(p.cols.trend)
	p.drawSparks()
	p.order()
}

// drawSparks draws every row's sparkline: the last prices, scaled between
// their own low and high, green when the period ends higher than it began.
// The ntcharts sparkline is drawn once per snapshot and its view kept.
func (p *symbolsPane) drawSparks() {
	h, st := p.hist, p.st
	w := p.cols.trend
	for i := range p.rows {
		r := &p.rows[i]
		if w == 0 {
			r.spark = ""
			continue
		}
		p.values = h.columns(p.values[:0], r.Symbol, w, p.step)
		if len(p.values) == 0 {
			r.spark = ""
			continue
		}
		sl := p.sparks[r.Symbol]
		if sl == nil {
			if len(p.sparks) >= maxTracked {
				continue
			}
			sl = &spark{Model: sparkline.New(w, 1, sparkline.WithNoAutoMaxValue(), sparkline.WithMaxValue(1))}
			p.sparks[r.Symbol] = sl
		} else if sl.Width() != w {
			sl.Resize(w, 1)
		}
		lo, hi := p.values[0], p.values[0]
		for _, v := range p.values {
			lo, hi = min(lo, v), max(hi, v)
		}
		trend := '='
		switch first, last := p.values[0], p.values[len(p.values)-1]; {
		case last > first:
			trend = '+'
		case last < first:
			trend = '-'
		}
		// The column heights, as the glyphs the sparkline draws for them.
		p.key = append(p.key[:0], trend)
		for range w - len(p.values) {
			p.key = append(p.key, runes.LowerBlockElementFromFloat64(0))
		}
		for i, v := range p.values {
			// The lowest price still shows as the lowest bar, not a gap.
			f := 0.5
			if hi > lo {
				f = 0.125 + 0.875*(v-lo)/(hi-lo)
			}
			p.values[i] = f
			p.key = append(p.key, runes.LowerBlockElementFromFloat64(f))
		}
		if key := string(p.key); key != sl.key {
			// Zeros (blank columns) before a short history, so that the w
			// values pushed replace all the ring holds: no Clear, which
			// would allocate a canvas of its own besides the one drawing
			// clears.
			for range sl.Width() - len(p.values) {
				sl.Push(0)
			}
			for _, f := range p.values {
				sl.Push(f)
			}
			sl.DrawColumnsOnly()
			style := st.Flat
			switch trend {
			case '+':
				style = st.Up
			case '-':
				style = st.Down
			}
			sl.key, sl.view = key, style.Render(plainView(&sl.Canvas))
		}
		r.spark = sl.view
	}
}

// order sorts the rows and applies the filter.
func (p *symbolsPane) order() {
	key, desc := p.sort, descending[p.sort] != p.reverse
	slices.SortStableFunc(p.rows, func(a, b symbolRow) int {
		var c int
		switch key {
		case bySymbol:
			c = cmp.Compare(a.Symbol, b.Symbol)
		case byChange:
			c = cmpNaN(a.change, b.change)
		case byVolume:
			c = cmp.Compare(a.vol1m, b.vol1m)
		case byRate:
			c = cmp.Compare(a.rate, b.rate)
		case bySector:
			c = cmp.Compare(a.Sector, b.Sector)
		}
		if desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.Symbol, b.Symbol))
	})
	p.shown = p.shown[:0]
	f := strings.ToLower(p.filter)
	for i, r := range p.rows {
		if f == "" || strings.Contains(strings.ToLower(r.Symbol), f) || strings.Contains(strings.ToLower(r.Sector), f) {
			p.shown = append(p.shown, i)
		}
	}
	if (!p.picked || p.cursor() < 0) && len(p.shown) > 0 {
		p.selected = p.rows[p.shown[0]].Symbol
	}
	p.clampOffset()
}

// cmpNaN orders NaN (no open price yet) first.
func cmpNaN(a, b float64) int {
	switch an, bn := math.IsNaN(a), math.IsNaN(b); {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	}
	return cmp.Compare(a, b)
}

// cursor is the position of the selection among the shown rows, or -1.
func (p *symbolsPane) cursor() int {
	for i, ri := range p.shown {
		if p.rows[ri].Symbol == p.selected {
			return i
		}
	}
	return -1
}

// move moves the selection by d shown rows.
func (p *symbolsPane) move(d int) {
	if len(p.shown) == 0 {
		return
	}
	i := p.cursor()
	if i < 0 {
		i = 0
	} else {
		i = min(max(i+d, 0), len(p.shown)-1)
	}
	p.selected = p.rows[p.shown[i]].Symbol
	p.picked = true
	p.clampOffset()
}

// selectRow selects the i-th row on screen, if there is one.
func (p *symbolsPane) selectRow(i int) {
	if j := p.offset + i; i >= 0 && j < len(p.shown) {
		p.selected = p.rows[p.shown[j]].Symbol
		p.picked = true
	}
}

// pageRows is how many table rows fit under the heading, less the filter's
// line when there is one.
func (p *symbolsPane) pageRows() int {
	if p.typing || p.filter != "" {
		return max(p.h-4, 1)
	}
	return max(p.h-3, 1)
}

// clampOffset scrolls so the selection is on screen.
func (p *symbolsPane) clampOffset() {
	page := p.pageRows()
	i := p.cursor()
	if i >= 0 {
		if i < p.offset {
			p.offset = i
		}
		if i >= p.offset+page {
			p.offset = i - page + 1
		}
	}
	p.offset = max(min(p.offset, len(p.shown)-page), 0)
}

// selectedRow returns the selected row, if it is shown.
func (p *symbolsPane) selectedRow() (symbolRow, bool) {
	if i := p.cursor(); i >= 0 {
		return p.rows[p.shown[i]], true
	}
	return symbolRow{}, false
}

// View draws the pane. filterLine is the filter being typed, if it is.
func (p *symbolsPane) View(focused bool, filterLine string) string {
	st, c := p.st, p.cols
	info := sortNames[p.sort]
	if descending[p.sort] != p.reverse {
		info += " ↓"
	} else {
		info += " ↑"
	}
	// How many rows, which show when not all fit, and how many match the
	// filter: 8–14 of 50, 1–6 of 10/50.
	n := fmtInt(int64(len(p.rows)))
	if p.filter != "" {
		n = fmtInt(int64(len(p.shown))) + "/" + n
	}
	page := p.pageRows()
	if len(p.shown) > page {
		n = strconv.Itoa(p.offset+1) + "–" + strconv.Itoa(min(p.offset+page, len(p.shown))) + " of " + n
	}
	info = n + " · sort " + info
	if len(p.alerting) > 0 {
		info += " · ! " + strconv.Itoa(len(p.alerting)) + " alerting"
	}
	if c.trend > 0 {
		// The span the data covers, which is less than what the columns
		// hold until the history fills them.
		covered := time.Duration(min(max(p.hist.span()-1, 0), p.step*c.trend)) * time.Second
		info += " · trend " + fmtSpan(roundSpan(covered))
	}
	body := make([]string, 0, p.h)
	var b strings.Builder
	b.WriteString("  ")
	b.WriteString(fit("SYMBOL", c.symbol))
	if c.sector {
		b.WriteString(" ")
		b.WriteString(fit("SECTOR", colSector-1))
	}
	b.WriteString(padLeft("LAST", colLast))
	b.WriteString(padLeft("CHG%", colChange))
	if c.high {
		b.WriteString(padLeft("HIGH", colPrice))
	}
	if c.low {
		b.WriteString(padLeft("LOW", colPrice))
	}
	if c.vwap {
		b.WriteString(padLeft("VWAP", colPrice))
	}
	if c.mcap {
		b.WriteString(padLeft("MCAP", colMcap))
	}
	b.WriteString(padLeft("VOL 1m", colVol))
	b.WriteString(padLeft("T/s", colRate))
	if c.trades {
		b.WriteString(padLeft("TRADES", colTrades))
	}
	if c.trend > 0 {
		b.WriteString("  ")
		b.WriteString("TREND")
	}
	body = append(body, st.Head.Render(b.String()))

	if len(p.shown) == 0 {
		msg := "waiting for trades…"
		if p.empty != "" {
			msg = p.empty
		}
		if p.filter != "" {
			msg = "no symbol matches “" + p.filter + "”"
		}
		body = append(body, st.Dim.Render(msg))
	}
	for i := p.offset; i < len(p.shown) && i < p.offset+page; i++ {
		r := &p.rows[p.shown[i]]
		body = append(body, p.row(r, focused && r.Symbol == p.selected, r.Symbol == p.selected))
	}
	if p.typing || p.filter != "" {
		for len(body) < p.h-3 {
			body = append(body, "")
		}
		if p.typing {
			body = append(body, filterLine)
		} else {
			body = append(body, st.Dim.Render("filter “"+p.filter+"” · / to change · esc to clear"))
		}
	}
	return st.box(p.w, p.h, focused, "Symbols", info, body)
}

// row draws one table row.
func (p *symbolsPane) row(r *symbolRow, highlight, selected bool) string {
	st, c := p.st, p.cols
	var b strings.Builder
	b.Grow(p.w * 2)
	if selected {
		b.WriteString(st.selMarker)
	} else {
		b.WriteByte(' ')
	}
	if p.alerting[r.Symbol] {
		b.WriteString(st.Alert.Render("!"))
	} else {
		b.WriteByte(' ')
	}
	sym := fit(r.Symbol, c.symbol)
	switch {
	case highlight:
		sym = st.Selected.Render(sym)
	case selected:
		sym = st.Bold.Render(sym)
	}
	b.WriteString(sym)
	if c.sector {
		b.WriteString(" ")
		sector := r.Sector
		if len(sector) > colSector-1 {
			sector = sectorLabel(sector, true)
		}
		b.WriteString(st.Dim.Render(fit(sector, colSector-1)))
	}
	b.WriteString(padLeft(fmtPrice(r.Last), colLast))
	chg := st.Flat
	switch {
	case r.change > 0:
		chg = st.Up
	case r.change < 0:
		chg = st.Down
	}
	b.WriteString(chg.Render(padLeft(fmtPct(r.change), colChange)))
	if c.high {
		b.WriteString(padLeft(fmtPrice(r.High), colPrice))
	}
	if c.low {
		b.WriteString(padLeft(fmtPrice(r.Low), colPrice))
	}
	if c.vwap {
		vwap := 0.0
		if r.Volume > 0 {
			vwap = r.Notional / r.Volume
		}
		b.WriteString(padLeft(fmtPrice(vwap), colPrice))
	}
	if c.mcap {
		cell := "–"
		if v, ok := p.mcap(r.Symbol, r.Last); ok {
			cell = fmtCompact(v)
		}
		b.WriteString(padLeft(cell, colMcap))
	}
	b.WriteString(padLeft(fmtCompact(r.vol1m), colVol))
	b.WriteString(padLeft(fmtRate(r.rate), colRate))
	if c.trades {
		b.WriteString(padLeft(fmtInt(r.Count), colTrades))
	}
	if c.trend > 0 && r.spark != "" {
		b.WriteString("  ")
		b.WriteString(r.spark)
	}
	return b.String()
}
