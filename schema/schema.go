// Package schema is how a trade is written as a Kafka message value, and
// read back: tradetop's JSON form, or Avro with the schema in trade.avsc,
// either as plain Avro binary with the writer's schema in a message header
// or in the Confluent wire format (a zero byte, the schema's id in a schema
// registry, then Avro binary). Avro is encoded with github.com/hamba/avro.
package schema

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/tradetop/tradetop/trade"
)

// Format is how trades are written to the topic.
type Format string

const (
	// JSON is tradetop's JSON form (trade.AppendJSON).
	JSON Format = "json"
	// Avro is Avro binary with the schema of trade.avsc.
	Avro Format = "avro"
)

// ParseFormat reads "json" or "avro".
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case JSON, Avro:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want json or avro", trade.Excerpt(s, 40))
}

// HeaderKey names the message header that holds the writer's Avro schema,
// as JSON, in a plain Avro message.
const HeaderKey = "avro.schema"

// Text is trade.avsc: the Avro schema of a trade.
//
//go:embed trade.avsc
var Text string

// tradeSchema is Text, parsed.
var tradeSchema = avro.MustParse(Text)

// record is a trade as the schema lays it out.
type record struct {
	ID     string  `avro:"id"`
	Symbol string  `avro:"symbol"`
	Price  float64 `avro:"price"`
	Volume float64 `avro:"volume"`
	Time   int64   `avro:"time"`  // microseconds since the epoch
	Nanos  int32   `avro:"nanos"` // nanoseconds within the microsecond
}

func (r *record) from(t *trade.Trade) {
	ns := t.Time.UnixNano()
	us, rest := ns/1000, ns%1000
	if rest < 0 { // before 1970: floor, so that nanos stays in 0..999
		us, rest = us-1, rest+1000
	}
	*r = record{ID: t.ID, Symbol: t.Symbol, Price: t.Price, Volume: t.Volume, Time: us, Nanos: int32(rest)}
}

// ErrUnavailable wraps the errors of a schema registry that could not be
// reached, or failed: the message is not at fault, and reading it again
// later may succeed.
var ErrUnavailable = errors.New("schema registry unavailable")

// Encoder writes trades as message values in one format. One goroutine at
// a time may use it.
type Encoder struct {
	format Format
	id     uint32 // the schema's registry id; 0 for plain Avro
	header []byte // the schema, for the header of plain Avro
	w      *avro.Writer
	rec    record
}

// NewEncoder returns an encoder for format. A registry id other than 0
// writes Avro in the Confluent wire format with that id; with 0, Avro is
// plain, its schema in the HeaderKey header.
func NewEncoder(format Format, registryID uint32) *Encoder {
	e := &Encoder{format: format, id: registryID}
	if format == Avro {
		e.w = avro.NewWriter(nil, 256)
		if registryID == 0 {
			e.header = []byte(tradeSchema.String())
		}
	}
	return e
}

// Format is the encoder's format.
func (e *Encoder) Format() Format { return e.format }

// Header returns the header every message of the encoder carries, or ""
// and nil for none.
func (e *Encoder) Header() (string, []byte) {
	if e.header == nil {
		return "", nil
	}
	return HeaderKey, e.header
}

// AppendValue appends the message value of t to dst. It does not validate
// t; the producer validates before encoding.
func (e *Encoder) AppendValue(dst []byte, t *trade.Trade) []byte {
	if e.format != Avro {
		return trade.AppendJSON(dst, t)
	}
	if e.id != 0 {
		dst = append(dst, 0)
		dst = binary.BigEndian.AppendUint32(dst, e.id)
	}
	e.rec.from(t)
	e.w.Reset(nil)
	e.w.WriteVal(tradeSchema, &e.rec)
	return append(dst, e.w.Buffer()...)
}

// Registry looks up writer schemas by their id in a schema registry.
type Registry interface {
	// Schema returns the schema with id, as JSON. An error wraps
	// ErrUnavailable when the registry could not answer.
	Schema(id uint32) (string, error)
}

// Decoder reads message values of every form: JSON, plain Avro with its
// schema in a header, and the Confluent wire format, whose schemas it
// looks up in a registry. An Avro writer's schema may differ from
// trade.avsc as Avro's schema resolution allows (fields added, nanos left
// out), but its time must be a timestamp-micros long. Any goroutine may
// call Decode.
type Decoder struct {
	reg Registry // nil: no registry

	mu sync.RWMutex
	// headers and ids are the schemas that decode each writer's data
	// into a record, or why none does, by the writer schema's header and
	// by its registry id.
	headers map[string]resolved
	ids     map[uint32]resolved

	readers sync.Pool // *avro.Reader
}

type resolved struct {
	schema avro.Schema
	err    error
}

// NewDecoder returns a decoder that looks up registry ids in reg; with a
// nil reg, a message in the Confluent wire format is an error.
func NewDecoder(reg Registry) *Decoder {
	d := &Decoder{reg: reg, headers: map[string]resolved{}, ids: map[uint32]resolved{}}
	d.readers.New = func() any { return avro.NewReader(nil, 0) }
	return d
}

// maxSchemas bounds the writer schemas a decoder remembers: past it, it
// forgets them all and resolves them again.
const maxSchemas = 1000

// Decode decodes one message value into t and validates it. header is the
// message's HeaderKey header, nil when it has none. Every failure is an
// error wrapping trade.ErrInvalid, or ErrUnavailable when the registry
// could not be asked; it never panics.
func (d *Decoder) Decode(value, header []byte, t *trade.Trade) error {
	switch {
	case len(value) > trade.MaxEncodedLen:
		return fmt.Errorf("%w: %d bytes, more than %d", trade.ErrInvalid, len(value), trade.MaxEncodedLen)
	case header != nil:
		return d.decodeAvro(d.byHeader(header), value, t)
	case len(value) > 0 && value[0] == 0:
		if len(value) < 5 {
			return fmt.Errorf("%w: %d bytes: too short for the schema registry's wire format", trade.ErrInvalid, len(value))
		}
		id := binary.BigEndian.Uint32(value[1:5])
		if d.reg == nil {
			return fmt.Errorf("%w: Avro of schema registry id %d, and no --schema-registry to look it up in", trade.ErrInvalid, id)
		}
		r, err := d.byRegistry(id)
		if err != nil {
			return err
		}
		return d.decodeAvro(r, value[5:], t)
	}
	return trade.UnmarshalJSON(value, t)
}

// Form names the form Decode reads value in, given its HeaderKey header
// (nil for none): "json", "avro" (plain, with the writer's schema in the
// header) or "avro registry id N" (the registry's wire format).
func Form(value, header []byte) string {
	switch {
	case header != nil:
		return "avro"
	case len(value) >= 5 && value[0] == 0:
		return "avro registry id " + strconv.FormatUint(uint64(binary.BigEndian.Uint32(value[1:5])), 10)
	}
	return "json"
}

// byRegistry returns how to read the writer schema of registry id id.
// A registry that cannot answer is not remembered: the next message asks
// again.
func (d *Decoder) byRegistry(id uint32) (resolved, error) {
	d.mu.RLock()
	r, ok := d.ids[id]
	d.mu.RUnlock()
	if ok {
		return r, nil
	}
	text, err := d.reg.Schema(id)
	if errors.Is(err, ErrUnavailable) {
		return resolved{}, fmt.Errorf("schema registry id %d: %w", id, err)
	}
	r = resolve(text, err)
	if r.err != nil {
		r.err = fmt.Errorf("schema registry id %d: %w", id, r.err)
	}
	remember(d, d.ids, id, r)
	return r, nil
}

// byHeader returns how to read data of the writer schema header holds.
func (d *Decoder) byHeader(header []byte) resolved {
	d.mu.RLock()
	r, ok := d.headers[string(header)] // no copy of header to look it up
	d.mu.RUnlock()
	if ok {
		return r
	}
	r = resolve(string(header), nil)
	if r.err != nil {
		r.err = fmt.Errorf("the schema in header %s: %w", HeaderKey, r.err)
	}
	remember(d, d.headers, string(header), r)
	return r
}

// remember keeps r under k in m, one of d's maps.
func remember[K comparable](d *Decoder, m map[K]resolved, k K, r resolved) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(m) >= maxSchemas {
		clear(m)
	}
	m[k] = r
}

// resolve returns the schema that reads data written with the writer
// schema text into a record, or why none can.
func resolve(text string, err error) resolved {
	if err != nil {
		return resolved{err: err}
	}
	if text == Text || text == tradeSchema.String() {
		return resolved{schema: tradeSchema}
	}
	w, err := avro.Parse(text)
	if err != nil {
		return resolved{err: fmt.Errorf("not an Avro schema: %v", err)}
	}
	rec, ok := w.(*avro.RecordSchema)
	if !ok {
		return resolved{err: fmt.Errorf("a %s, not a record", w.Type())}
	}
	for _, f := range rec.Fields() {
		if f.Name() != "time" {
			continue
		}
		ls, ok := f.Type().(avro.LogicalTypeSchema)
		if !ok || ls.Logical() == nil || ls.Logical().Type() != avro.TimestampMicros {
			return resolved{err: errors.New("its field time is not a timestamp-micros long")}
		}
	}
	s, err := avro.NewSchemaCompatibility().Resolve(tradeSchema, w)
	if err != nil {
		return resolved{err: fmt.Errorf("cannot be read as trade.avsc: %v", err)}
	}
	return resolved{schema: s}
}

func (d *Decoder) decodeAvro(r resolved, data []byte, t *trade.Trade) error {
	if r.err != nil {
		return fmt.Errorf("%w: %v", trade.ErrInvalid, r.err)
	}
	rd := d.readers.Get().(*avro.Reader)
	defer d.readers.Put(rd)
	rd.Reset(data)
	var rec record
	rd.ReadVal(r.schema, &rec)
	if rd.Error != nil {
		err := rd.Error
		rd.Error = nil
		return fmt.Errorf("%w: avro: %v", trade.ErrInvalid, err)
	}
	if rec.Nanos < 0 || rec.Nanos > 999 {
		return fmt.Errorf("%w: nanos %d out of range [0, 999]", trade.ErrInvalid, rec.Nanos)
	}
	*t = trade.Trade{ID: rec.ID, Symbol: rec.Symbol, Price: rec.Price, Volume: rec.Volume}
	if rec.Time > 0 {
		t.Time = time.UnixMicro(rec.Time).Add(time.Duration(rec.Nanos)).UTC()
	}
	return t.Validate()
}
