// Package replay replays files of trades, recorded by tradetop or exported
// from elsewhere, as a feed.Source, and records a running source to such a
// file: every line of tradetop that reads or writes them.
package replay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tradetop/tradetop/feed"
	"github.com/tradetop/tradetop/trade"
)

// MaxLine is the longest line a replay reads, in bytes without the line
// end. A longer line is bad input: it is skipped up to the next newline.
const MaxLine = 1 << 20

const (
	// replayBuffer is the read buffer of a replay.
	replayBuffer = 64 << 10
	// replayHashPrefix is how much of the start of a file names the IDs
	// of its replayed trades.
	replayHashPrefix = 64 << 10
	// maxLoggedBad is how many bad lines a replay logs one by one; after
	// them it logs a summary at every power of ten, and one at the end.
	maxLoggedBad = 5
	// maxReplayExcerpt bounds how much of a bad field an error quotes.
	maxReplayExcerpt = 40
)

// Config configures a replay of a recorded or exported file of trades.
type Config struct {
	// Path is the file to replay. Required.
	Path string
	// Speed divides the gaps between event times: 1 replays in real time,
	// 10 ten times as fast. Default: 0, as fast as emit takes the trades.
	// Negative, NaN and infinite speeds are errors.
	Speed float64
	// ShiftToNow moves every trade by one constant, Now (in whole
	// milliseconds) when Run reads the first trade minus that trade's time,
	// so that the replay looks live. A shifted trade is a new trade, at
	// another time: its ID is "@", that anchor in Unix milliseconds and ":"
	// before the line's ID (see shiftedID), so one ID always names one
	// time, and a recording of a shifted replay replays to the same trades.
	// Default: false, the file's own times.
	ShiftToNow bool
	// Now is the clock ShiftToNow reads. Pacing follows the machine's
	// clock, not Now. Default: time.Now.
	Now func() time.Time
	// Log receives the first few bad lines, summaries of the rest, and a
	// line when the replay ends. Default: nothing is logged.
	Log *slog.Logger
}

// withDefaults returns c with every zero field that has a default set to it.
func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports what is wrong with c, or nil. It does not look at the
// file; New does.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("no file"))
	}
	if math.IsNaN(c.Speed) || math.IsInf(c.Speed, 0) || c.Speed < 0 {
		errs = append(errs, fmt.Errorf("speed %v: want 0 (as fast as possible) or a positive number", c.Speed))
	}
	if len(errs) > 0 {
		return fmt.Errorf("replay: %w", errors.Join(errs...))
	}
	return nil
}

// Source is a feed.Source that replays a file of trades, in one of two
// formats told apart by content:
//
//   - JSON lines: one trade a line in the wire form of trade.AppendJSON,
//     {"id":…,"s":…,"p":…,"v":…,"t":<Unix ns>}, as Record writes them. The id
//     may be absent or empty.
//   - CSV: a header line naming at least the columns symbol, price, volume
//     and ts, in any order, in any case; an id column is optional, other
//     columns are ignored. A ts is RFC 3339 ("2026-01-02T15:00:00.123Z", a
//     space may stand for the T) or whole Unix seconds, milliseconds,
//     microseconds or nanoseconds, told apart by magnitude (below 1e10
//     seconds, below 1e13 milliseconds, below 1e16 microseconds, else
//     nanoseconds), which is unambiguous for the years trades may have.
//     Fields may be quoted, but a record must fit on one line.
//
// In both, blank lines and lines starting with '#' are skipped, and so is a
// leading UTF-8 byte order mark; lines end with "\n" or "\r\n".
//
// A trade keeps the id of its line. A line without one gets
// "r-<h>-<n>", where n is its line number and h the first 12 hex digits of
// the SHA-256 of the file's first 64 KiB: replaying a file twice yields the
// same IDs, so a second replay into one store rewrites the same rows.
//
// A bad line (malformed, longer than MaxLine, or a trade that fails
// trade.Validate) is counted in the report with its line number, logged if it
// is among the first few, and skipped.
//
// Run may be called again after it returns: each run replays the file from
// the start. Report may be called from any goroutine.
type Source struct {
	cfg  Config
	name string

	mu  sync.Mutex
	rep feed.Report
}

var (
	_ feed.Source   = (*Source)(nil)
	_ feed.Reporter = (*Source)(nil)
)

// New validates cfg, opens the file and reads enough of it to know its
// format. A missing or unreadable file, an empty one, or one in neither
// format is an error naming the file.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rf, err := openReplay(cfg.Path)
	if err != nil {
		return nil, err
	}
	rf.close()
	name := "replay " + filepath.Base(cfg.Path)
	if cfg.Speed == 0 {
		name += " at max speed"
	} else {
		name += " at " + strconv.FormatFloat(cfg.Speed, 'g', -1, 64) + "×"
	}
	if cfg.ShiftToNow {
		name += ", shifted to now"
	}
	return &Source{cfg: cfg, name: name, rep: feed.Report{Connected: true}}, nil
}

// Name describes the source ("replay trades.jsonl at 10×").
func (r *Source) Name() string { return r.name }

// Report returns the counts of the current or latest Run. Connected is
// always true.
func (r *Source) Report() feed.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rep
}

// Run replays the file, calling emit with each good trade from the calling
// goroutine, paced by Speed, until the end of the file (it returns nil), ctx
// is done (ctx.Err()), emit fails (its error) or the file cannot be read.
//
// With a Speed, the trade at event time e is emitted (e − first)/Speed after
// the first trade; a trade earlier than one before it goes out at once, as
// time never runs backwards. When emit blocks, the replay falls behind and
// then catches up by at most 100ms of event time at once, the rest of the
// delay shifting the schedule.
func (r *Source) Run(ctx context.Context, emit func(trade.Trade) error) error {
	r.mu.Lock()
	r.rep = feed.Report{Connected: true}
	r.mu.Unlock()

	rf, err := openReplay(r.cfg.Path)
	if err != nil {
		return err
	}
	defer rf.close()

	var (
		emitted     int64
		first       = true
		shift       time.Duration
		idPrefix    string    // "@<anchor ms>:" of a shifted replay
		anchorEvent time.Time // the event time of the first trade
		anchorWall  time.Time // when it went out, moved on by stalls
		latest      time.Time // the latest event time so far
	)
	done := ctx.Done()
	for k := 0; ; k++ {
		if k%feed.CtxCheckEvery == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
		line, no, tooLong, err := rf.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("replay %s: reading line %d: %w", r.cfg.Path, no, err)
		}
		if tooLong {
			r.bad(no, fmt.Errorf("longer than %d bytes", MaxLine))
			continue
		}
		if skipLine(line) {
			continue
		}
		t, err := rf.dec.decode(line, no)
		if err != nil {
			r.bad(no, err)
			continue
		}
		if first && r.cfg.ShiftToNow {
			anchor := r.cfg.Now().Truncate(time.Millisecond)
			shift = anchor.Sub(t.Time)
			idPrefix = "@" + strconv.FormatInt(anchor.UnixMilli(), 10) + ":"
		}
		if r.cfg.ShiftToNow {
			t.Time = t.Time.Add(shift)
			t.ID = shiftedID(t.ID, idPrefix)
			if err := t.Validate(); err != nil {
				r.bad(no, fmt.Errorf("shifted to now: %w", err))
				continue
			}
		}
		if r.cfg.Speed > 0 {
			switch {
			case first:
				anchorEvent, anchorWall, latest = t.Time, time.Now(), t.Time
			case t.Time.After(latest):
				latest = t.Time
				due := anchorWall.Add(scaleDuration(latest.Sub(anchorEvent), r.cfg.Speed))
				switch d := time.Until(due); {
				case d > 0:
					if err := feed.Sleep(ctx, d); err != nil {
						return err
					}
				case d < -feed.MaxCatchUp:
					anchorWall = anchorWall.Add(-d - feed.MaxCatchUp)
				}
			}
		}
		first = false
		if err := emit(t); err != nil {
			return err
		}
		emitted++
	}
	rep := r.Report()
	r.cfg.Log.Info("replay finished", "file", r.cfg.Path, "trades", emitted, "bad_lines", rep.Bad)
	return nil
}

// shiftedID is the ID of a trade of a shifted replay: the replay's prefix
// ("@<anchor ms>:") and the line's ID, or, when that would be longer than
// trade.MaxIDLen, the prefix, "h" and 32 hex digits of the ID's SHA-256.
// Either way a function of the line's ID and the shift alone. The line's ID
// comes last, so that a sequence number it ends in still ends the ID (the
// aggregation keeps such IDs compactly).
func shiftedID(id, prefix string) string {
	if len(prefix)+len(id) <= trade.MaxIDLen {
		return prefix + id
	}
	sum := sha256.Sum256([]byte(id))
	return prefix + "h" + hex.EncodeToString(sum[:16])
}

// bad counts and, within limits, logs the bad line no.
func (r *Source) bad(no int, err error) {
	msg := fmt.Sprintf("line %d: %v", no, err)
	r.mu.Lock()
	r.rep.Bad++
	r.rep.LastBad = msg
	n := r.rep.Bad
	r.mu.Unlock()
	switch {
	case n <= maxLoggedBad:
		r.cfg.Log.Warn("replay: bad line skipped", "file", r.cfg.Path, "line", no, "err", err)
	case isPowerOfTen(n):
		r.cfg.Log.Warn("replay: bad lines skipped", "file", r.cfg.Path, "count", n, "latest", msg)
	}
}

// isPowerOfTen reports whether n is 10, 100, 1000…
func isPowerOfTen(n int64) bool {
	if n < 10 {
		return false
	}
	for n%10 == 0 {
		n /= 10
	}
	return n == 1
}

// scaleDuration returns d/speed, saturating instead of overflowing.
func scaleDuration(d time.Duration, speed float64) time.Duration {
	f := float64(d) / speed
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(f)
}

// skipLine reports whether line is blank or a comment.
func skipLine(line []byte) bool {
	line = bytes.TrimLeft(line, " \t")
	return len(line) == 0 || line[0] == '#'
}

// replayFile is one open replay file, positioned after its header.
type replayFile struct {
	f     *os.File
	lines *lineReader
	dec   *lineDecoder
	// pending is the first data line, read to tell the format, to be
	// returned by next before anything else.
	pending   []byte
	pendingNo int
}

// openReplay opens path, tells its format and reads its header, if any.
func openReplay(path string) (*replayFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	rf, err := newReplayFile(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return rf, nil
}

func newReplayFile(f *os.File, path string) (*replayFile, error) {
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("replay %s: is a directory", path)
	}
	prefix := make([]byte, replayHashPrefix)
	n, err := io.ReadFull(f, prefix)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	prefix = prefix[:n]
	if bytes.HasPrefix(prefix, []byte{0x1f, 0x8b}) {
		return nil, fmt.Errorf("replay %s: the file is gzip-compressed: decompress it first", path)
	}
	sum := sha256.Sum256(prefix)
	idPrefix := "r-" + hex.EncodeToString(sum[:6]) + "-"

	rf := &replayFile{
		f:     f,
		lines: newLineReader(io.MultiReader(bytes.NewReader(prefix), f), replayBuffer, MaxLine),
	}
	for {
		line, no, tooLong, err := rf.lines.next()
		switch {
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("replay %s: no trades: the file is empty", path)
		case err != nil:
			return nil, fmt.Errorf("replay %s: reading line %d: %w", path, no, err)
		case tooLong:
			return nil, fmt.Errorf("replay %s: unknown format: line %d is longer than %d bytes", path, no, MaxLine)
		case skipLine(line):
			continue
		}
		if bytes.TrimLeft(line, " \t")[0] == '{' {
			rf.dec = newJSONDecoder(idPrefix)
			rf.pending, rf.pendingNo = bytes.Clone(line), no
			return rf, nil
		}
		dec, err := newCSVDecoder(line, idPrefix)
		if err != nil {
			return nil, fmt.Errorf("replay %s: unknown format: line %d is neither a JSON trade nor a CSV header: %w", path, no, err)
		}
		rf.dec = dec
		return rf, nil
	}
}

// next returns the next line and its number, as lineReader.next does.
func (rf *replayFile) next() (line []byte, no int, tooLong bool, err error) {
	if rf.pending != nil {
		line, no = rf.pending, rf.pendingNo
		rf.pending = nil
		return line, no, false, nil
	}
	return rf.lines.next()
}

func (rf *replayFile) close() { rf.f.Close() }

// lineReader reads lines of bounded length.
type lineReader struct {
	br  *bufio.Reader
	max int
	no  int    // the number of the latest line
	buf []byte // a line longer than the read buffer, put together
}

func newLineReader(r io.Reader, size, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, size), max: max}
}

// next returns the next line without its end ("\n" or "\r\n"), and its
// number, counting from 1. The line is valid until the next call. A line
// longer than max bytes comes back as tooLong without its content; the
// reader goes on at the line after it. At the end of the input next returns
// io.EOF. A UTF-8 byte order mark at the start of line 1 is dropped.
func (lr *lineReader) next() (line []byte, no int, tooLong bool, err error) {
	lr.buf = lr.buf[:0]
	size := 0
	for {
		chunk, err := lr.br.ReadSlice('\n')
		size += len(chunk)
		if size > lr.max+2 {
			// Too long even with "\r\n": keep reading, not keeping.
			tooLong = true
		}
		switch {
		case tooLong:
		case err == nil && len(lr.buf) == 0:
			line = chunk
		default:
			lr.buf = append(lr.buf, chunk...)
			line = lr.buf
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, lr.no + 1, false, err
		}
		if size == 0 {
			return nil, lr.no, false, io.EOF
		}
		break
	}
	lr.no++
	if tooLong {
		return nil, lr.no, true, nil
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if lr.no == 1 {
		line = bytes.TrimPrefix(line, []byte("\ufeff"))
	}
	if len(line) > lr.max {
		return nil, lr.no, true, nil
	}
	return line, lr.no, false, nil
}

// lineDecoder turns the data lines of one file into trades. It is used by
// one goroutine.
type lineDecoder struct {
	csv      bool
	cols     tradeColumns // when csv
	idPrefix string       // "r-<hash>-", for lines without an id
	fields   [][]byte     // scratch
	id       []byte       // scratch
}

func newJSONDecoder(idPrefix string) *lineDecoder {
	return &lineDecoder{idPrefix: idPrefix}
}

// newCSVDecoder reads the CSV header line; it fails when the line is not a
// header naming the required columns.
func newCSVDecoder(header []byte, idPrefix string) (*lineDecoder, error) {
	fields, err := splitCSV(header, nil)
	if err != nil {
		return nil, err
	}
	cols, err := parseTradeHeader(fields)
	if err != nil {
		return nil, err
	}
	return &lineDecoder{csv: true, cols: cols, idPrefix: idPrefix}, nil
}

// decode returns the valid trade on line no, or why there is none.
func (d *lineDecoder) decode(line []byte, no int) (trade.Trade, error) {
	if d.csv {
		return d.decodeCSV(line, no)
	}
	return d.decodeJSON(line, no)
}

// genID returns the ID of a trade whose line has none.
func (d *lineDecoder) genID(no int) string {
	d.id = append(d.id[:0], d.idPrefix...)
	d.id = strconv.AppendInt(d.id, int64(no), 10)
	return string(d.id)
}

func (d *lineDecoder) decodeJSON(line []byte, no int) (trade.Trade, error) {
	line = bytes.TrimSpace(line)
	var t trade.Trade
	err := trade.UnmarshalJSON(line, &t)
	if err == nil {
		return t, nil
	}
	// UnmarshalJSON fills t only when the line is a JSON object; if that
	// object has no id, it gets the line's.
	parsed := t.Symbol != "" || t.Price != 0 || t.Volume != 0 || !t.Time.IsZero()
	if !parsed || t.ID != "" {
		return trade.Trade{}, err
	}
	t.ID = d.genID(no)
	if err := t.Validate(); err != nil {
		return trade.Trade{}, err
	}
	return t, nil
}

func (d *lineDecoder) decodeCSV(line []byte, no int) (trade.Trade, error) {
	fields, err := splitCSV(line, d.fields)
	if err != nil {
		return trade.Trade{}, err
	}
	d.fields = fields
	c := &d.cols
	if len(fields) != c.n {
		return trade.Trade{}, fmt.Errorf("%d fields, the header has %d", len(fields), c.n)
	}
	var t trade.Trade
	t.Symbol = string(fields[c.symbol])
	if t.Price, err = strconv.ParseFloat(string(fields[c.price]), 64); err != nil {
		return trade.Trade{}, fmt.Errorf("bad price %q", trade.Excerpt(string(fields[c.price]), maxReplayExcerpt))
	}
	if t.Volume, err = strconv.ParseFloat(string(fields[c.volume]), 64); err != nil {
		return trade.Trade{}, fmt.Errorf("bad volume %q", trade.Excerpt(string(fields[c.volume]), maxReplayExcerpt))
	}
	if t.Time, err = parseTradeTime(fields[c.ts]); err != nil {
		return trade.Trade{}, fmt.Errorf("bad ts %q: want RFC 3339 or whole Unix seconds, ms, µs or ns", trade.Excerpt(string(fields[c.ts]), maxReplayExcerpt))
	}
	if c.id >= 0 && len(fields[c.id]) > 0 {
		t.ID = string(fields[c.id])
	} else {
		t.ID = d.genID(no)
	}
	if err := t.Validate(); err != nil {
		return trade.Trade{}, err
	}
	return t, nil
}

// tradeColumns maps the columns of a CSV file of trades to their positions in
// a record; id is -1 when the file has no id column.
type tradeColumns struct {
	n                             int // fields in the header
	id, symbol, price, volume, ts int
}

// tradeColumnNames are the columns a CSV file of trades may have, in the
// order of the positions in tradeColumns.
var tradeColumnNames = []string{"id", "symbol", "price", "volume", "ts"}

// parseTradeHeader reads the header of a CSV file of trades.
func parseTradeHeader(header [][]byte) (tradeColumns, error) {
	c := tradeColumns{n: len(header)}
	names := make([]string, len(header))
	for i, h := range header {
		names[i] = string(h)
	}
	pos, err := feed.CSVColumns(names, tradeColumnNames, nil)
	if err != nil {
		return c, err
	}
	c.id, c.symbol, c.price, c.volume, c.ts = pos[0], pos[1], pos[2], pos[3], pos[4]
	var missing []string
	for _, req := range []struct {
		name string
		pos  int
	}{{"symbol", c.symbol}, {"price", c.price}, {"volume", c.volume}, {"ts", c.ts}} {
		if req.pos < 0 {
			missing = append(missing, req.name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("no column %s (want at least symbol,price,volume,ts)", strings.Join(missing, ", "))
	}
	return c, nil
}

// splitCSV splits a CSV record that fits on one line into its fields,
// appended to dst[:0]. Spaces around fields are dropped. A field may be
// quoted, with "" standing for a quote inside it. The fields point into line,
// except quoted ones with quotes inside.
func splitCSV(line []byte, dst [][]byte) ([][]byte, error) {
	dst = dst[:0]
	for {
		line = bytes.TrimLeft(line, " \t")
		if len(line) > 0 && line[0] == '"' {
			var field []byte
			copied := false
			for from := 1; ; {
				k := bytes.IndexByte(line[from:], '"')
				if k < 0 {
					return nil, errors.New("unterminated quoted field")
				}
				k += from
				if k+1 < len(line) && line[k+1] == '"' {
					// A doubled quote: keep one.
					if !copied {
						field, copied = append([]byte(nil), line[1:k+1]...), true
					} else {
						field = append(field, line[from:k+1]...)
					}
					from = k + 2
					continue
				}
				if copied {
					field = append(field, line[from:k]...)
				} else {
					field = line[1:k]
				}
				line = bytes.TrimLeft(line[k+1:], " \t")
				break
			}
			dst = append(dst, field)
			if len(line) == 0 {
				return dst, nil
			}
			if line[0] != ',' {
				return nil, errors.New(`text after a closing quote`)
			}
			line = line[1:]
			continue
		}
		k := bytes.IndexByte(line, ',')
		field := line
		if k >= 0 {
			field = line[:k]
		}
		field = bytes.TrimRight(field, " \t")
		if bytes.IndexByte(field, '"') >= 0 {
			return nil, errors.New(`bare " in an unquoted field`)
		}
		dst = append(dst, field)
		if k < 0 {
			return dst, nil
		}
		line = line[k+1:]
	}
}

// parseTradeTime reads a CSV ts: RFC 3339, or whole Unix seconds,
// milliseconds, microseconds or nanoseconds told apart by magnitude.
func parseTradeTime(b []byte) (time.Time, error) {
	if len(b) > 0 && allDigits(b) {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return time.Time{}, err
		}
		switch {
		case n < 1e10:
			return time.Unix(n, 0).UTC(), nil
		case n < 1e13:
			return time.UnixMilli(n).UTC(), nil
		case n < 1e16:
			return time.UnixMicro(n).UTC(), nil
		default:
			return time.Unix(0, n).UTC(), nil
		}
	}
	s := string(b)
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
