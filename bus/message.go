package bus

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// Message is one record of a partition, as a Claim delivers it and
// DeadLetters takes it back. Key and Value are the bytes the reader fetched,
// not copies; no one writes to them.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	// HighWaterMark is the partition's end offset when the message was
	// fetched.
	HighWaterMark int64
	Key           []byte
	Value         []byte
	// Time is the message's timestamp: for a trade, when it was produced.
	Time time.Time
	// Headers are the message's headers, as fetched.
	Headers []kafka.Header
}

// Header returns the value of the message's first header named key, or
// nil.
func (m *Message) Header(key string) []byte {
	for i := range m.Headers {
		if m.Headers[i].Key == key {
			return m.Headers[i].Value
		}
	}
	return nil
}

// message returns m as bus hands it on. It copies no bytes and allocates
// nothing: the consumer calls it for every message it reads.
func message(m *kafka.Message) Message {
	return Message{
		Topic:         m.Topic,
		Partition:     m.Partition,
		Offset:        m.Offset,
		HighWaterMark: m.HighWaterMark,
		Key:           m.Key,
		Value:         m.Value,
		Time:          m.Time,
		Headers:       m.Headers,
	}
}
