package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/trade"
)

// inspected is one message of the topic or its dead-letter topic as
// tradetop topic prints it and the terminal UI's topic browser shows it:
// where it is, its key and headers, and its value decoded, or why it does
// not decode.
type inspected struct {
	Topic     string        `json:"topic"`
	Partition int           `json:"partition"`
	Offset    int64         `json:"offset"`
	Time      time.Time     `json:"timestamp"`
	Key       string        `json:"key"`
	Headers   []headerValue `json:"headers"`
	// Form is how the value is written: json, avro or avro registry id N.
	Form  string       `json:"form"`
	Trade *tradeFields `json:"trade,omitempty"`
	// DecodeError says why the value is not a valid trade.
	DecodeError string `json:"decode_error,omitempty"`
	// DeadLetter is what a dead letter's headers say of it.
	DeadLetter *deadLetter `json:"dead_letter,omitempty"`
}

// headerValue is one message header; a value that is not UTF-8 text is
// quoted as Go quotes bytes.
type headerValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// tradeFields are a decoded trade's fields.
type tradeFields struct {
	ID     string    `json:"id"`
	Symbol string    `json:"symbol"`
	Price  float64   `json:"price"`
	Volume float64   `json:"volume"`
	Time   time.Time `json:"time"`
}

// deadLetter is why a message was dead-lettered and where it was read.
type deadLetter struct {
	Reason          string `json:"reason"`
	SourceTopic     string `json:"source_topic"`
	SourcePartition int    `json:"source_partition"`
	SourceOffset    int64  `json:"source_offset"`
	// TruncatedFrom is the size of the value before it was cut; a
	// truncated dead letter cannot be re-driven.
	TruncatedFrom int64 `json:"truncated_from,omitempty"`
}

// inspect decodes m with dec.
func inspect(m *bus.Message, dec *schema.Decoder) inspected {
	out := inspected{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time.UTC(),
		Key: text(m.Key), Headers: make([]headerValue, 0, len(m.Headers)),
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, headerValue{Key: h.Key, Value: text(h.Value)})
	}
	header := m.Header(schema.HeaderKey)
	out.Form = schema.Form(m.Value, header)
	var t trade.Trade
	if err := dec.Decode(m.Value, header, &t); err != nil {
		out.DecodeError = err.Error()
	} else {
		out.Trade = &tradeFields{ID: t.ID, Symbol: t.Symbol, Price: t.Price, Volume: t.Volume, Time: t.Time.UTC()}
	}
	if d, ok := bus.DeadLetterOf(m); ok {
		out.DeadLetter = &deadLetter{Reason: d.Reason, SourceTopic: d.SourceTopic, SourcePartition: d.SourcePartition,
			SourceOffset: d.SourceOffset, TruncatedFrom: d.TruncatedFrom}
	}
	return out
}

// text is b as text: itself when it is UTF-8, else quoted.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	q := strconv.Quote(string(b))
	return q[1 : len(q)-1]
}

// Summary is the decoded trade in one line, or why it did not decode.
func (i *inspected) Summary() string {
	if t := i.Trade; t != nil {
		return fmt.Sprintf("%s %s × %s at %s id %s", t.Symbol, strconv.FormatFloat(t.Price, 'f', -1, 64),
			strconv.FormatFloat(t.Volume, 'f', -1, 64), t.Time.Format(time.RFC3339Nano), t.ID)
	}
	return "not a trade: " + i.DecodeError
}

// Source is where a dead letter was read, as topic/partition@offset.
func (d *deadLetter) Source() string {
	return d.SourceTopic + "/" + strconv.Itoa(d.SourcePartition) + "@" + strconv.FormatInt(d.SourceOffset, 10)
}

// maxHeaderText is the most of a header value the text form prints.
const maxHeaderText = 60

// writeText writes i as tradetop topic prints it: a line of where it is,
// its key, form and trade, then its headers and, for a dead letter, why
// and where from.
func (i *inspected) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%d@%d  %s  key %s  %s  %s\n", i.Topic, i.Partition, i.Offset,
		i.Time.Format(time.RFC3339Nano), strconv.Quote(i.Key), i.Form, i.Summary())
	if d := i.DeadLetter; d != nil {
		fmt.Fprintf(&b, "  dead letter of %s: %s", d.Source(), d.Reason)
		if d.TruncatedFrom > 0 {
			fmt.Fprintf(&b, " (value truncated from %d bytes)", d.TruncatedFrom)
		}
		b.WriteByte('\n')
	}
	var hs []string
	for _, h := range i.Headers {
		if i.DeadLetter != nil && slices.Contains(deadLetterHeaders, h.Key) {
			continue
		}
		hs = append(hs, h.Key+"="+strconv.Quote(trade.Excerpt(h.Value, maxHeaderText)))
	}
	if len(hs) > 0 {
		b.WriteString("  headers: " + strings.Join(hs, " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// deadLetterHeaders are the headers the dead letter line already says.
var deadLetterHeaders = []string{bus.HeaderError, bus.HeaderSourceTopic, bus.HeaderSourcePartition, bus.HeaderSourceOffset, bus.HeaderTruncatedFrom}
