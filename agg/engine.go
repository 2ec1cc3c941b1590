// Package agg turns a stream of trades into event-time windows: OHLCV candles
// per symbol, volume per sector, and live per-symbol statistics. It is pure:
// no I/O, no goroutines, no clock. Time comes in with the trades, or as an
// argument.
package agg

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/tradetop/tradetop/trade"
)

// Config configures an Engine. The zero value of a field means its default;
// WithDefaults applies them.
type Config struct {
	// Intervals are the candle window sizes. Default: 1s and 1m.
	Intervals []time.Duration
	// SectorInterval is the sector volume window size. Default: 1m.
	SectorInterval time.Duration
	// AllowedLateness is how far behind the newest event time a trade may be
	// and still count in its windows. Zero closes a window as soon as a
	// trade at or after its end is seen; negative is an error. Default
	// (nil): DefaultAllowedLateness.
	AllowedLateness *time.Duration
	// Sector maps a symbol to its sector. Default: every symbol is in "Other".
	Sector func(symbol string) string
}

// DefaultAllowedLateness is Config.AllowedLateness when it is not set.
const DefaultAllowedLateness = 2 * time.Second

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Intervals:       []time.Duration{time.Second, time.Minute},
		SectorInterval:  time.Minute,
		AllowedLateness: new(DefaultAllowedLateness),
		Sector:          func(string) string { return "Other" },
	}
}

// WithDefaults returns c with every unset field set to its default. Its
// AllowedLateness is never nil, and not shared with c.
func (c Config) WithDefaults() Config {
	d := Defaults()
	if len(c.Intervals) == 0 {
		c.Intervals = d.Intervals
	}
	if c.SectorInterval == 0 {
		c.SectorInterval = d.SectorInterval
	}
	if c.AllowedLateness == nil {
		c.AllowedLateness = d.AllowedLateness
	} else {
		c.AllowedLateness = new(*c.AllowedLateness)
	}
	if c.Sector == nil {
		c.Sector = d.Sector
	}
	return c
}

// ValidateInterval reports whether d can be a window size: a whole number of
// seconds that divides a day, so that no window straddles midnight UTC.
func ValidateInterval(d time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("window %s: must be positive", d)
	case d%time.Second != 0:
		return fmt.Errorf("window %s: must be a whole number of seconds", d)
	case (24*time.Hour)%d != 0:
		return fmt.Errorf("window %s: must divide a day evenly", d)
	}
	return nil
}

// Validate reports the first problem with the configuration, after defaults.
func (c Config) Validate() error {
	c = c.WithDefaults()
	seen := map[time.Duration]bool{}
	for _, d := range c.Intervals {
		if err := ValidateInterval(d); err != nil {
			return err
		}
		if seen[d] {
			return fmt.Errorf("window %s: listed twice", d)
		}
		seen[d] = true
	}
	if err := ValidateInterval(c.SectorInterval); err != nil {
		return fmt.Errorf("sector %w", err)
	}
	if *c.AllowedLateness < 0 {
		return errors.New("allowed lateness must not be negative")
	}
	return nil
}

// SymbolStats are live statistics of one symbol since the engine started.
type SymbolStats struct {
	Symbol string
	Sector string
	// First is the first price seen: the session open.
	First float64
	// Last is the price of the trade with the latest event time.
	Last     float64
	High     float64
	Low      float64
	Volume   float64
	Notional float64
	Count    int64
	LastTime time.Time
}

// SectorDay is a sector's volume on the current UTC day (the day of the
// newest trade seen for the sector).
type SectorDay struct {
	Sector   string
	Day      time.Time
	Volume   float64
	Notional float64
	Count    int64
}

// Engine aggregates the trades of one Kafka partition. It is not safe for
// concurrent use: one goroutine owns it.
//
// The watermark is the newest event time seen minus the allowed lateness. A
// window closes when the watermark reaches its end; a trade whose window has
// already closed is late: it is counted, and left out of that window.
//
// A trade whose ID the engine has already counted in a window that is still
// open is a duplicate (a producer retry, a source read twice): it is
// counted as such and left out. The engine remembers the IDs of a window's
// trades until every window they fed has closed; a copy arriving after that
// is late.
type Engine struct {
	partition int32
	sectorOf  func(string) string
	intervals []int64 // candle window sizes, ns
	sectorIv  int64
	lateness  int64

	symbols map[string]*symbolState
	symList []*symbolState
	sectors map[string]*sectorState
	secList []*sectorState

	hasWM     bool
	wm        int64 // valid when hasWM
	nextClose int64 // earliest end of an open window, math.MaxInt64 if none

	// seen holds the IDs of the trades counted in open windows, by event
	// time bucket of size span, the longest window.
	seen     map[int64]*idSet
	span     int64
	lastSeen int // hashed IDs of the last bucket forgotten, to size the next

	closed Closed
	late   int64
	dups   int64
}

// idSet is the IDs of the trades of one time bucket, kept until every
// window those trades fed has closed. An ID that ends in a sequence number
// ("s7-1767366000000-42", "r-1f2e3d4c5b6a-1234"), as the synthetic market's
// and replayed files' IDs do, is a bit in a bitmap of its prefix's numbers:
// a minute of trades at full speed costs a few megabytes, not hundreds.
// Other IDs are 128-bit hashes. Either way two distinct IDs of one bucket
// never collide in practice: the prefixes are 128-bit hashes too.
type idSet struct {
	seqs  map[[2]uint64]map[uint64]uint64 // prefix hash → number/64 → 64 bits
	ids   map[[2]uint64]struct{}
	until int64 // latest end of a window fed by one of them
}

// maxSeqDigits is the longest sequence number an ID may end in to be kept
// as a bit: its value fits 60 bits.
const maxSeqDigits = 18

// splitSeq splits an ID into the prefix before the decimal number it ends
// in and that number. It reports false for an ID with no such number, or
// one written with a leading zero ("a007" must not be "a7").
func splitSeq(id string) (prefix string, seq uint64, ok bool) {
	i := len(id)
	for i > 0 && id[i-1] >= '0' && id[i-1] <= '9' {
		i--
	}
	digits := id[i:]
	if len(digits) == 0 || len(digits) > maxSeqDigits || (digits[0] == '0' && len(digits) > 1) {
		return "", 0, false
	}
	for j := 0; j < len(digits); j++ {
		seq = seq*10 + uint64(digits[j]-'0')
	}
	return id[:i], seq, true
}

// add remembers id and reports whether it was there already.
func (s *idSet) add(id string) bool {
	if prefix, seq, ok := splitSeq(id); ok {
		words, ok := s.seqs[idHash(prefix)]
		if !ok {
			words = map[uint64]uint64{}
			s.seqs[idHash(prefix)] = words
		}
		w, bit := words[seq>>6], uint64(1)<<(seq&63)
		if w&bit != 0 {
			return true
		}
		words[seq>>6] = w | bit
		return false
	}
	h := idHash(id)
	if _, dup := s.ids[h]; dup {
		return true
	}
	s.ids[h] = struct{}{}
	return false
}

// Outcome is what Add did with a trade.
type Outcome uint8

const (
	// Counted: the trade is in every one of its windows.
	Counted Outcome = iota
	// Late: at least one of the trade's windows had closed; it is in the
	// others.
	Late
	// Duplicate: a trade with the same ID is already counted in an open
	// window; this one is left out of every window.
	Duplicate
)

func (o Outcome) String() string {
	switch o {
	case Counted:
		return "counted"
	case Late:
		return "late"
	case Duplicate:
		return "duplicate"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

type window struct {
	start, end int64
	open, high float64
	low, close float64
	// volume and notional are exact sums: the same bits whatever the
	// order of the trades (a sector's symbols are rebuilt one after
	// another).
	volume   exactSum
	notional exactSum
	count    int64
}

func (w *window) add(price, volume float64) {
	if w.count == 0 {
		w.open, w.high, w.low = price, price, price
	}
	w.high = max(w.high, price)
	w.low = min(w.low, price)
	w.close = price
	w.volume.add(volume)
	w.notional.add(price * volume)
	w.count++
}

type symbolState struct {
	stats  SymbolStats
	sector *sectorState
	open   [][]window // per interval, ordered by start
}

type sectorState struct {
	name string
	open []window
	day  SectorDay
	dayN int64 // day number of day, or math.MinInt64 before the first trade
}

// New returns an engine for the trades of one Kafka partition. It returns an
// error if cfg is invalid.
func New(cfg Config, partition int32) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	e := &Engine{
		partition: partition,
		sectorOf:  cfg.Sector,
		sectorIv:  int64(cfg.SectorInterval),
		lateness:  int64(*cfg.AllowedLateness),
		symbols:   map[string]*symbolState{},
		sectors:   map[string]*sectorState{},
		nextClose: math.MaxInt64,
		seen:      map[int64]*idSet{},
		span:      int64(cfg.SectorInterval),
	}
	for _, d := range cfg.Intervals {
		e.intervals = append(e.intervals, int64(d))
		e.span = max(e.span, int64(d))
	}
	return e, nil
}

const dayNS = int64(24 * time.Hour)

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Add aggregates one valid trade, in the order the partition delivers them
// (a window's open is its first trade, its close its last), and says
// whether it counted in all its windows, was late for at least one, or was
// a duplicate of a trade already counted.
func (e *Engine) Add(t *trade.Trade) Outcome {
	ts := t.Time.UnixNano()
	if e.duplicate(t.ID, ts) {
		e.dups++
		return Duplicate
	}
	s := e.symbol(t.Symbol)
	late := false
	for i, iv := range e.intervals {
		if !e.addTo(&s.open[i], ts, iv, t.Price, t.Volume) {
			late = true
		}
	}
	sec := s.sector
	if !e.addTo(&sec.open, ts, e.sectorIv, t.Price, t.Volume) {
		late = true
	}
	s.stats.observe(t, ts)
	sec.observe(t, ts)
	if wm := ts - e.lateness; !e.hasWM || wm > e.wm {
		e.hasWM, e.wm = true, wm
		if e.wm >= e.nextClose {
			e.closeThrough(e.wm)
		}
	}
	if late {
		e.late++
		return Late
	}
	return Counted
}

// duplicate reports whether a trade with this ID and event time was already
// counted in a window that is still open, and remembers it if not. A trade
// whose windows have all closed is not remembered: it is late.
func (e *Engine) duplicate(id string, ts int64) bool {
	if id == "" {
		return false
	}
	until := int64(math.MinInt64)
	for _, iv := range e.intervals {
		until = max(until, floorDiv(ts, iv)*iv+iv)
	}
	until = max(until, floorDiv(ts, e.sectorIv)*e.sectorIv+e.sectorIv)
	if e.hasWM && until <= e.wm {
		return false
	}
	bucket := floorDiv(ts, e.span)
	set, ok := e.seen[bucket]
	if !ok {
		set = &idSet{seqs: map[[2]uint64]map[uint64]uint64{}, ids: make(map[[2]uint64]struct{}, e.lastSeen)}
		e.seen[bucket] = set
	}
	if set.add(id) {
		return true
	}
	set.until = max(set.until, until)
	return false
}

// forget drops the IDs of buckets whose windows have all closed by wm.
func (e *Engine) forget(wm int64) {
	for b, set := range e.seen {
		if set.until <= wm {
			e.lastSeen = len(set.ids)
			delete(e.seen, b)
		}
	}
}

// idHash is the 128-bit FNV-1a hash of id: deterministic, so that a replay
// makes the same decisions, and wide enough that two distinct IDs of one
// bucket never collide in practice.
func idHash(id string) [2]uint64 {
	const primeLow = 0x13b // the prime is 2^88 + 0x13b
	hi, lo := uint64(0x6c62272e07bb0142), uint64(0x62b821756295c58d)
	for i := 0; i < len(id); i++ {
		lo ^= uint64(id[i])
		h, l := bits.Mul64(lo, primeLow)
		hi, lo = h+hi*primeLow+lo<<24, l
	}
	return [2]uint64{hi, lo}
}

// addTo adds a trade to the window of size iv containing ts in the ordered
// list ws, creating the window if needed. It reports false if that window has
// already closed.
func (e *Engine) addTo(ws *[]window, ts, iv int64, price, volume float64) bool {
	start := floorDiv(ts, iv) * iv
	end := start + iv
	if e.hasWM && end <= e.wm {
		return false
	}
	list := *ws
	i := len(list)
	for i > 0 && list[i-1].start >= start {
		i--
	}
	if i == len(list) || list[i].start != start {
		list = append(list, window{})
		copy(list[i+1:], list[i:])
		list[i] = window{start: start, end: end}
		*ws = list
		e.nextClose = min(e.nextClose, end)
	}
	list[i].add(price, volume)
	return true
}

func (st *SymbolStats) observe(t *trade.Trade, ts int64) {
	if st.Count == 0 {
		st.First, st.High, st.Low = t.Price, t.Price, t.Price
	}
	st.High = max(st.High, t.Price)
	st.Low = min(st.Low, t.Price)
	st.Volume += t.Volume
	st.Notional += t.Price * t.Volume
	st.Count++
	if st.Count == 1 || ts >= st.LastTime.UnixNano() {
		st.Last = t.Price
		st.LastTime = t.Time
	}
}

func (s *sectorState) observe(t *trade.Trade, ts int64) {
	d := floorDiv(ts, dayNS)
	switch {
	case d < s.dayN:
		return // an earlier day: stored, but not part of today's live total
	case d > s.dayN:
		s.dayN = d
		s.day = SectorDay{Sector: s.name, Day: time.Unix(0, d*dayNS).UTC()}
	}
	s.day.Volume += t.Volume
	s.day.Notional += t.Price * t.Volume
	s.day.Count++
}

func (e *Engine) symbol(name string) *symbolState {
	if s, ok := e.symbols[name]; ok {
		return s
	}
	secName := e.sectorOf(name)
	sec, ok := e.sectors[secName]
	if !ok {
		sec = &sectorState{name: secName, dayN: math.MinInt64}
		e.sectors[secName] = sec
		e.secList = append(e.secList, sec)
	}
	s := &symbolState{
		stats:  SymbolStats{Symbol: name, Sector: secName},
		sector: sec,
		open:   make([][]window, len(e.intervals)),
	}
	e.symbols[name] = s
	e.symList = append(e.symList, s)
	return s
}

// closeThrough closes every open window that ends at or before wm.
func (e *Engine) closeThrough(wm int64) {
	next := int64(math.MaxInt64)
	for _, s := range e.symList {
		for i, iv := range e.intervals {
			ws := s.open[i]
			n := 0
			for n < len(ws) && ws[n].end <= wm {
				e.closed.Candles = append(e.closed.Candles, candle(s.stats.Symbol, iv, &ws[n]))
				n++
			}
			s.open[i] = ws[:copy(ws, ws[n:])]
			if len(s.open[i]) > 0 {
				next = min(next, s.open[i][0].end)
			}
		}
	}
	for _, sec := range e.secList {
		ws := sec.open
		n := 0
		for n < len(ws) && ws[n].end <= wm {
			e.closed.Sectors = append(e.closed.Sectors, e.sectorVolume(sec.name, &ws[n]))
			n++
		}
		sec.open = ws[:copy(ws, ws[n:])]
		if len(sec.open) > 0 {
			next = min(next, sec.open[0].end)
		}
	}
	e.nextClose = next
	e.forget(wm)
}

func candle(symbol string, iv int64, w *window) Candle {
	return Candle{
		Symbol:   symbol,
		Interval: time.Duration(iv),
		Start:    time.Unix(0, w.start).UTC(),
		Open:     w.open,
		High:     w.high,
		Low:      w.low,
		Close:    w.close,
		Volume:   w.volume.value(),
		Notional: w.notional.value(),
		Count:    w.count,
	}
}

func (e *Engine) sectorVolume(name string, w *window) SectorVolume {
	return SectorVolume{
		Sector:    name,
		Interval:  time.Duration(e.sectorIv),
		Start:     time.Unix(0, w.start).UTC(),
		Partition: e.partition,
		Volume:    w.volume.value(),
		Notional:  w.notional.value(),
		Count:     w.count,
	}
}

// AdvanceWatermark moves the watermark to t if t is later, closing the
// windows that end at or before it. The pipeline calls it with the watermark
// restored from a committed offset, and to let an idle partition's windows
// close on a live feed.
func (e *Engine) AdvanceWatermark(t time.Time) {
	wm := t.UnixNano()
	if e.hasWM && wm <= e.wm {
		return
	}
	e.hasWM, e.wm = true, wm
	if e.wm >= e.nextClose {
		e.closeThrough(e.wm)
	}
}

// Watermark returns the current watermark, and false before the first trade
// or AdvanceWatermark.
func (e *Engine) Watermark() (time.Time, bool) {
	if !e.hasWM {
		return time.Time{}, false
	}
	return time.Unix(0, e.wm).UTC(), true
}

// AppendOpen appends every open window as it stands — a candle or sector row
// of the trades so far — to dst, without closing it or moving the
// watermark. At a clean stop the pipeline stores them, so the store shows
// every trade; whoever resumes the partition rebuilds those windows from
// the stored trades (Rebuild) and writes them again when they close, over
// the rows written at the stop.
func (e *Engine) AppendOpen(dst *Closed) {
	for _, s := range e.symList {
		for i, iv := range e.intervals {
			for j := range s.open[i] {
				dst.Candles = append(dst.Candles, candle(s.stats.Symbol, iv, &s.open[i][j]))
			}
		}
	}
	for _, sec := range e.secList {
		for j := range sec.open {
			dst.Sectors = append(dst.Sectors, e.sectorVolume(sec.name, &sec.open[j]))
		}
	}
}

// OpenSince returns the earliest event time a trade may have and still be in
// a window that is open at watermark wm: the start of the oldest window of
// any interval that ends after wm. The trades of the windows open at a
// committed watermark are the stored trades from this time on.
func (c Config) OpenSince(wm time.Time) time.Time {
	c = c.WithDefaults()
	w := wm.UnixNano()
	since := int64(math.MaxInt64)
	for _, iv := range append(slices.Clone(c.Intervals), c.SectorInterval) {
		n := int64(iv)
		// The window holding the instant just after wm ends after wm.
		since = min(since, floorDiv(w, n)*n)
	}
	return time.Unix(0, since).UTC()
}

// Restore adds a stored trade to a new engine that is rebuilding the state
// its partition was committed in: after AdvanceWatermark with the committed
// watermark, every stored trade of the partition read before the committed
// offset, at or after OpenSince(wm), each symbol's in the order they were
// read (one symbol after another will do: no window holds two symbols but
// a sector's, whose sums are exact until they are rounded once, so they do
// not depend on the order). That rebuilds the
// open windows and the IDs counted in them. The trades are not counted
// again: Late and Duplicates do not move, and no window closes (none of
// them can move the watermark, which was past them all).
func (e *Engine) Restore(t *trade.Trade) {
	late, dups := e.late, e.dups
	e.Add(t)
	e.late, e.dups = late, dups
}

// TakeClosed appends the windows closed since the last call to dst and
// forgets them.
func (e *Engine) TakeClosed(dst *Closed) {
	dst.Candles = append(dst.Candles, e.closed.Candles...)
	dst.Sectors = append(dst.Sectors, e.closed.Sectors...)
	e.closed.Reset()
}

// AllowedLateness is how far behind the newest event time a trade may be
// and still count.
func (e *Engine) AllowedLateness() time.Duration { return time.Duration(e.lateness) }

// Late is the number of trades that were late for at least one window.
func (e *Engine) Late() int64 { return e.late }

// Duplicates is the number of trades left out because a trade with the
// same ID was already counted.
func (e *Engine) Duplicates() int64 { return e.dups }

// OpenWindows is the number of windows not yet closed.
func (e *Engine) OpenWindows() int {
	n := 0
	for _, s := range e.symList {
		for _, ws := range s.open {
			n += len(ws)
		}
	}
	for _, sec := range e.secList {
		n += len(sec.open)
	}
	return n
}

// AppendStats appends the live statistics of every symbol seen, in order of
// first appearance, to dst.
func (e *Engine) AppendStats(dst []SymbolStats) []SymbolStats {
	for _, s := range e.symList {
		dst = append(dst, s.stats)
	}
	return dst
}

// AppendSectorDays appends each sector's volume on its current day to dst.
func (e *Engine) AppendSectorDays(dst []SectorDay) []SectorDay {
	for _, sec := range e.secList {
		if sec.day.Count > 0 {
			dst = append(dst, sec.day)
		}
	}
	return dst
}
