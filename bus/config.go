package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tradetop/tradetop/schema"
)

// Config is how tradetop reaches Kafka. The zero value of a field means its
// default; Defaults lists them all.
type Config struct {
	// Brokers are the bootstrap host:port addresses. No default: the
	// pipeline fills it with the embedded broker's address when empty.
	Brokers []string
	// Topic carries the trades, keyed by symbol. Default "trades".
	Topic string
	// DLQTopic receives messages that cannot be decoded. Default Topic+".dlq".
	DLQTopic string
	// Group is the consumer group of the processing stage. Default "tradetop".
	Group string
	// ClientID is how this process names itself to the brokers: in their
	// logs, quotas and request metrics, and to the other members of the
	// group, which see it in DescribeGroups. Default DefaultClientID.
	ClientID string
	// Partitions is the partition count of a topic tradetop creates.
	// Default 6.
	Partitions int
	// ReplicationFactor of a topic tradetop creates. Default 1.
	ReplicationFactor int
	// Values writes each trade as a message value. Default nil: JSON
	// (trade.AppendJSON).
	Values *schema.Encoder

	// BatchSize is the most messages the producer sends to one partition in
	// one request. Default 2000 (kafka-go's own default is 100).
	BatchSize int
	// BatchBytes is the most bytes in one produce request per partition.
	// Default 4 MiB.
	BatchBytes int64
	// BatchTimeout is how long the producer waits to fill a partition batch.
	// Default 2ms (kafka-go's own default is a full second).
	BatchTimeout time.Duration
	// WriteAttempts is how often the producer tries one batch before Send
	// reports the error. Default 5.
	WriteAttempts int

	// FetchMaxWait is how long the broker may hold a fetch when a partition
	// has no new data. Default 250ms.
	FetchMaxWait time.Duration
	// FetchMaxBytes is the most bytes one fetch returns. Default 8 MiB.
	FetchMaxBytes int
	// CommitInterval is how often processed offsets are committed to the
	// group. Only offsets whose effects are stored are ever committed.
	// Default 500ms (kafka-go's Reader would commit every message).
	CommitInterval time.Duration
	// SessionTimeout of the group member. Default 10s.
	SessionTimeout time.Duration
	// HeartbeatInterval of the group member. Default 1s.
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long a rebalance may take. Default 10s.
	RebalanceTimeout time.Duration

	// RequestTimeout bounds admin requests (metadata, offsets, lag).
	// Default 5s.
	RequestTimeout time.Duration

	// TLS secures every connection to the brokers. Default nil: plain TCP.
	// A config without ServerName verifies each broker under the host name
	// it was dialed by or advertises.
	TLS *tls.Config
	// SASL authenticates every connection to the brokers, inside TLS when
	// both are set. SASLMechanism builds one from a name and credentials.
	// Default nil: no authentication.
	SASL *SASL
	// DialTimeout bounds opening one connection to a broker: the TCP
	// connect, the TLS handshake and the SASL exchange together.
	// Default 10s.
	DialTimeout time.Duration
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Topic:             "trades",
		Group:             "tradetop",
		ClientID:          DefaultClientID,
		Partitions:        6,
		ReplicationFactor: 1,
		BatchSize:         2000,
		BatchBytes:        4 << 20,
		BatchTimeout:      2 * time.Millisecond,
		WriteAttempts:     5,
		FetchMaxWait:      2 * time.Second,
		FetchMaxBytes:     8 << 20,
		CommitInterval:    500 * time.Millisecond,
		SessionTimeout:    10 * time.Second,
		HeartbeatInterval: time.Second,
		RebalanceTimeout:  10 * time.Second,
		RequestTimeout:    5 * time.Second,
		DialTimeout:       10 * time.Second,
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := Defaults()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Topic == "" {
		c.Topic = d.Topic
	}
	if c.DLQTopic == "" {
		c.DLQTopic = c.Topic + ".dlq"
	}
	if c.ClientID == "" {
		c.ClientID = d.ClientID
	}
	if c.Group == "" {
		c.Group = d.Group
	}
	set(&c.Partitions, d.Partitions)
	set(&c.ReplicationFactor, d.ReplicationFactor)
	set(&c.BatchSize, d.BatchSize)
	if c.BatchBytes == 0 {
		c.BatchBytes = d.BatchBytes
	}
	set(&c.WriteAttempts, d.WriteAttempts)
	set(&c.FetchMaxBytes, d.FetchMaxBytes)
	setD(&c.BatchTimeout, d.BatchTimeout)
	setD(&c.FetchMaxWait, d.FetchMaxWait)
	setD(&c.CommitInterval, d.CommitInterval)
	setD(&c.SessionTimeout, d.SessionTimeout)
	setD(&c.HeartbeatInterval, d.HeartbeatInterval)
	setD(&c.RebalanceTimeout, d.RebalanceTimeout)
	setD(&c.RequestTimeout, d.RequestTimeout)
	setD(&c.DialTimeout, d.DialTimeout)
	return c
}

// Validate reports the first problem with the configuration after defaults.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if len(c.Brokers) == 0 && (c.TLS != nil || c.SASL != nil) {
		return errors.New("kafka TLS and SASL need brokers: the embedded broker uses neither")
	}
	for _, b := range c.Brokers {
		if err := ValidateBroker(b); err != nil {
			return err
		}
	}
	if err := ValidateTopic(c.Topic); err != nil {
		return err
	}
	if err := ValidateTopic(c.DLQTopic); err != nil {
		return err
	}
	switch {
	case c.Partitions < 1 || c.Partitions > 10000:
		return fmt.Errorf("partitions %d: must be between 1 and 10000", c.Partitions)
	case c.ReplicationFactor < 1 || c.ReplicationFactor > 32:
		return fmt.Errorf("replication factor %d: must be between 1 and 32", c.ReplicationFactor)
	case c.BatchSize < 1, c.BatchBytes < 1, c.WriteAttempts < 1, c.FetchMaxBytes < 1:
		return errors.New("producer and fetch sizes must be positive")
	case c.BatchTimeout < 0, c.FetchMaxWait < 0, c.CommitInterval < 0, c.SessionTimeout < 0,
		c.HeartbeatInterval < 0, c.RebalanceTimeout < 0, c.RequestTimeout < 0, c.DialTimeout < 0:
		return errors.New("kafka timeouts must not be negative")
	}
	return nil
}

// DefaultClientID is the ClientID of a Config that sets none.
const DefaultClientID = "tradetop"

// keepAlive is the TCP keep-alive period of broker connections: Go's own
// default, written out so that it does not change under us.
const keepAlive = 15 * time.Second

// Dialer returns the dialer of every kafka.Conn that bus opens: the consumer
// group's coordinator connections and the partition readers. It carries
// c.TLS and c.SASL, so a connection made through it is secured like every
// other.
func (c Config) Dialer() *kafka.Dialer {
	c = c.WithDefaults()
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       c.DialTimeout,
		DualStack:     true,
		KeepAlive:     keepAlive,
		TLS:           c.TLS,
		SASLMechanism: c.SASL.kafka(),
	}
}

// Transport returns a new connection pool for kafka.Writer and kafka.Client,
// carrying c.TLS and c.SASL like Dialer. Each caller owns the transport it
// gets and closes it with CloseIdleConnections when done: until then it
// keeps connections and a metadata refresh per broker.
func (c Config) Transport() *kafka.Transport {
	c = c.WithDefaults()
	return &kafka.Transport{
		// The net.Dialer only connects; the transport runs TLS and SASL on
		// the connection itself, all within DialTimeout.
		Dial: (&net.Dialer{
			Timeout:   c.DialTimeout,
			KeepAlive: keepAlive,
		}).DialContext,
		DialTimeout: c.DialTimeout,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 6 * time.Second,
		ClientID:    c.ClientID,
		TLS:         c.TLS,
		SASL:        c.SASL.kafka(),
	}
}

// explain adds to err, the error of a request to the brokers, why a new
// connection to the first broker fails, when err is a connection the broker
// closed and c secures its connections. Some brokers (Kafka before 1.0, the
// embedded kfake) close a connection whose credentials they refuse instead
// of answering with an error, which kafka-go's connection pool reports as a
// bare EOF; a direct dial runs the same TLS handshake and SASL exchange and
// says which of them failed. The dial is bounded by DialTimeout. A broker
// certificate that no trusted authority signs is said in words, with the
// flag that fixes it.
func (c Config) explain(ctx context.Context, err error) error {
	if err == nil || c.SASL == nil && c.TLS == nil || len(c.Brokers) == 0 {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.WithDefaults().DialTimeout)
		defer cancel()
		conn, derr := c.Dialer().DialContext(ctx, "tcp", c.Brokers[0])
		if derr != nil {
			err = fmt.Errorf("%w: %w", err, derr)
		} else {
			conn.Close()
		}
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return fmt.Errorf("the brokers' TLS certificate is not trusted: it is not signed by the CA of --kafka-tls-ca "+
			"(or a system CA, without that flag): %w", err)
	}
	return err
}

// ValidateBroker reports whether addr is a usable host:port.
func ValidateBroker(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("broker %q: want host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("broker %q: empty host", addr)
	}
	for _, r := range host {
		if !(r == '.' || r == '-' || r == ':' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("broker %q: bad character %q in host", addr, r)
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("broker %q: port must be a number from 1 to 65535", addr)
	}
	return nil
}

// ValidateTopic reports whether t can name a Kafka topic.
func ValidateTopic(t string) error {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return fmt.Errorf("topic %q: must be 1 to 249 characters and not . or ..", t)
	}
	for _, r := range t {
		if !(r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("topic %q: only letters, digits, '.', '_' and '-' are allowed", t)
		}
	}
	return nil
}

// Temporary reports whether err is a Kafka condition that goes away by
// itself (a coordinator loading, a leader moving, a rebalance), which the
// caller retries rather than counts as a failure.
func Temporary(err error) bool {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return false
	}
	// A commit refused because the group is rebalancing is redone by the
	// partition's next owner from the last committed offset.
	return ke.Temporary() || ke == kafka.RebalanceInProgress || ke == kafka.IllegalGeneration
}
