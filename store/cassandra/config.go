package cassandra

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gocql/gocql"
)

// Config says how to reach Cassandra and how to write to it. The
// zero value of a field means its default; Defaults lists them.
type Config struct {
	// Hosts are the contact points, host or host:port (port 9042 when
	// omitted). Required.
	Hosts []string
	// Keyspace holds tradetop's tables; it is created when missing.
	// Default "tradetop".
	Keyspace string
	// Replication of a keyspace tradetop creates. Default SimpleStrategy
	// with replication factor 1. An existing keyspace is used as it is.
	Replication Replication
	// Consistency of every read and write. Default LOCAL_QUORUM. (ANY, the
	// zero value, cannot be chosen: it does not make a write durable.)
	Consistency Consistency
	// LocalDC is the data centre whose nodes are preferred. Default: none,
	// every node alike.
	LocalDC string
	// Username and Password authenticate with PasswordAuthenticator when
	// Username is set.
	Username string
	Password string
	// TLS secures the connections; nil means plain TCP. Host names are
	// verified unless TLS.InsecureSkipVerify is set.
	TLS *tls.Config

	// Timeout bounds one request. Default 5s (gocql's own default is 11s).
	Timeout time.Duration
	// ConnectTimeout bounds dialling and the connection handshake.
	// Default 5s.
	ConnectTimeout time.Duration
	// BatchRows is the most rows in one unlogged batch of one partition's
	// rows: one mutation on one replica set, which Cassandra neither logs
	// nor checks against its batch size thresholds. Default 100.
	BatchRows int
	// BatchPartitions is the most partitions whose rows share one unlogged
	// batch, 5 rows at most, when each has few: a quiet beat writes a row
	// or two to each of many symbols' partitions, and one request per
	// partition would cost Cassandra and tradetop far more than the rows.
	// Default 5, under Cassandra's warnings of batches across partitions
	// (more than 10 partitions, or 5 KiB); 1 gives every partition batches
	// of its own.
	BatchPartitions int
	// Concurrency is how many batches one Write keeps in flight.
	// Default 32.
	Concurrency int
	// Retries is how often one request is retried after a timeout, an
	// unavailable or overloaded coordinator or a lost connection, waiting
	// RetryMin, doubling up to RetryMax, with jitter. Other errors are not
	// retried. Default 3.
	Retries  int
	RetryMin time.Duration // default 100ms
	RetryMax time.Duration // default 2s
	// WriteCoalesce is how long a connection waits to gather more requests
	// into one socket write. Default NoWriteCoalesce: writes go out at
	// once (gocql's own default waits 200µs, which costs latency on a quiet
	// link and gained no throughput here).
	WriteCoalesce time.Duration
	// ReconnectInterval is how often a node marked down is tried again.
	// Default 2s (gocql's own default is a minute).
	ReconnectInterval time.Duration
	// SchemaWait bounds how long opening waits for another process's
	// schema migration, and for schema agreement. Default 2m.
	SchemaWait time.Duration
	// Log receives the driver's messages at debug level. Default: discarded.
	Log *slog.Logger
}

// NoWriteCoalesce turns write coalescing off.
const NoWriteCoalesce time.Duration = -1

// Defaults returns the default configuration (without hosts).
func Defaults() Config {
	return Config{
		Keyspace:          "tradetop",
		Replication:       Replication{Class: SimpleStrategy, Factor: 1},
		Consistency:       Consistency(gocql.LocalQuorum),
		Timeout:           5 * time.Second,
		ConnectTimeout:    5 * time.Second,
		BatchRows:         100,
		BatchPartitions:   5,
		Concurrency:       32,
		Retries:           3,
		RetryMin:          100 * time.Millisecond,
		RetryMax:          2 * time.Second,
		WriteCoalesce:     NoWriteCoalesce,
		ReconnectInterval: 2 * time.Second,
		SchemaWait:        2 * time.Minute,
		Log:               slog.New(slog.DiscardHandler),
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := Defaults()
	c.Keyspace = cmp.Or(c.Keyspace, d.Keyspace)
	if c.Replication.Class == "" {
		c.Replication = d.Replication
	}
	c.Consistency = cmp.Or(c.Consistency, d.Consistency)
	c.Timeout = cmp.Or(c.Timeout, d.Timeout)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, d.ConnectTimeout)
	c.BatchRows = cmp.Or(c.BatchRows, d.BatchRows)
	c.BatchPartitions = cmp.Or(c.BatchPartitions, d.BatchPartitions)
	c.Concurrency = cmp.Or(c.Concurrency, d.Concurrency)
	c.Retries = cmp.Or(c.Retries, d.Retries)
	c.RetryMin = cmp.Or(c.RetryMin, d.RetryMin)
	c.RetryMax = cmp.Or(c.RetryMax, d.RetryMax)
	c.WriteCoalesce = cmp.Or(c.WriteCoalesce, d.WriteCoalesce)
	c.ReconnectInterval = cmp.Or(c.ReconnectInterval, d.ReconnectInterval)
	c.SchemaWait = cmp.Or(c.SchemaWait, d.SchemaWait)
	if c.Log == nil {
		c.Log = d.Log
	}
	return c
}

// identifier is what tradetop accepts as a keyspace name: Cassandra's
// unquoted identifiers, which it folds to lower case.
var identifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// Validate reports the first problem with c, after defaults.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if len(c.Hosts) == 0 {
		return errors.New("cassandra: no hosts")
	}
	for _, h := range c.Hosts {
		if err := ValidateHost(h); err != nil {
			return err
		}
	}
	if err := ValidateKeyspace(c.Keyspace); err != nil {
		return err
	}
	if err := c.Replication.Validate(); err != nil {
		return err
	}
	switch gocql.Consistency(c.Consistency) {
	case gocql.One, gocql.Two, gocql.Three, gocql.Quorum, gocql.All, gocql.LocalQuorum, gocql.EachQuorum, gocql.LocalOne:
	default:
		return fmt.Errorf("cassandra: unknown consistency %d", c.Consistency)
	}
	switch {
	case c.Password != "" && c.Username == "":
		return errors.New("cassandra: a password without a username")
	case c.Timeout < 0, c.ConnectTimeout < 0, c.ReconnectInterval < 0, c.SchemaWait < 0, c.RetryMin < 0, c.RetryMax < 0:
		return errors.New("cassandra: timeouts and intervals must not be negative")
	case c.RetryMax < c.RetryMin:
		return errors.New("cassandra: RetryMax is below RetryMin")
	case c.BatchRows < 1, c.BatchPartitions < 1, c.Concurrency < 1, c.Retries < 0:
		return errors.New("cassandra: BatchRows, BatchPartitions and Concurrency must be positive, Retries not negative")
	case c.WriteCoalesce < 0 && c.WriteCoalesce != NoWriteCoalesce:
		return errors.New("cassandra: WriteCoalesce must not be negative")
	}
	return nil
}

// ValidateKeyspace checks a keyspace name: it is written into CQL
// unquoted, so only letters, digits and _ are allowed.
func ValidateKeyspace(name string) error {
	if !identifier.MatchString(name) {
		return fmt.Errorf("cassandra: keyspace %q is not a name of letters, digits and _ starting with a letter, at most 48 long", name)
	}
	return nil
}

// ValidateHost checks one contact point, host or host:port.
func ValidateHost(h string) error {
	// A host is printed in errors, logs and the UI: no spaces or control
	// characters, which no host name has either.
	if strings.ContainsAny(h, "/\\@,") || !utf8.ValidString(h) ||
		strings.ContainsFunc(h, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("cassandra host %q: want host or host:port", h)
	}
	host, port := h, ""
	if strings.Contains(h, ":") {
		var err error
		if host, port, err = net.SplitHostPort(h); err != nil {
			return fmt.Errorf("cassandra host %q: want host or host:port", h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("cassandra host %q: port must be 1 to 65535", h)
		}
	}
	if host == "" {
		return fmt.Errorf("cassandra host %q: want host or host:port", h)
	}
	return nil
}

// Consistency is a consistency level (ONE, QUORUM, LOCAL_QUORUM, ...), this
// package's own type so that its callers need not import gocql.
type Consistency gocql.Consistency

// String is the level's CQL name, which ParseConsistency reads.
func (c Consistency) String() string { return gocql.Consistency(c).String() }

// ParseConsistency reads a consistency level by its CQL name, in any case.
func ParseConsistency(s string) (Consistency, error) {
	c, err := gocql.ParseConsistencyWrapper(s)
	if err != nil || c == gocql.Any {
		return 0, fmt.Errorf("unknown consistency %q: want one of ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE", s)
	}
	return Consistency(c), nil
}

// Replication strategy classes.
const (
	SimpleStrategy          = "SimpleStrategy"
	NetworkTopologyStrategy = "NetworkTopologyStrategy"
)

// Replication is a keyspace's replication strategy: SimpleStrategy with one
// factor, or NetworkTopologyStrategy with a factor per data centre.
type Replication struct {
	Class       string
	Factor      int            // SimpleStrategy
	DataCenters map[string]int // NetworkTopologyStrategy
}

// dcName is what a data centre may be called here: it is written into CQL
// as a string literal, so quotes are out.
var dcName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ParseReplication reads "SimpleStrategy:3" or
// "NetworkTopologyStrategy:dc1=3,dc2=2". Class names may be in any case.
func ParseReplication(s string) (Replication, error) {
	class, args, ok := strings.Cut(s, ":")
	if !ok || args == "" {
		return Replication{}, fmt.Errorf("replication %q: want SimpleStrategy:<factor> or NetworkTopologyStrategy:<dc>=<factor>,...", s)
	}
	var r Replication
	switch strings.ToLower(class) {
	case "simplestrategy":
		n, err := strconv.Atoi(args)
		if err != nil {
			return Replication{}, fmt.Errorf("replication %q: factor %q is not a number", s, args)
		}
		r = Replication{Class: SimpleStrategy, Factor: n}
	case "networktopologystrategy":
		r = Replication{Class: NetworkTopologyStrategy, DataCenters: map[string]int{}}
		for part := range strings.SplitSeq(args, ",") {
			dc, f, ok := strings.Cut(part, "=")
			n, err := strconv.Atoi(f)
			if !ok || err != nil {
				return Replication{}, fmt.Errorf("replication %q: %q is not <dc>=<factor>", s, part)
			}
			if _, dup := r.DataCenters[dc]; dup {
				return Replication{}, fmt.Errorf("replication %q: data centre %q named twice", s, dc)
			}
			r.DataCenters[dc] = n
		}
	default:
		return Replication{}, fmt.Errorf("replication %q: class must be SimpleStrategy or NetworkTopologyStrategy", s)
	}
	if err := r.Validate(); err != nil {
		return Replication{}, fmt.Errorf("replication %q: %w", s, err)
	}
	return r, nil
}

// Validate reports the first problem with r.
func (r Replication) Validate() error {
	switch r.Class {
	case SimpleStrategy:
		if r.Factor < 1 || r.Factor > 32 {
			return errors.New("replication factor must be between 1 and 32")
		}
	case NetworkTopologyStrategy:
		if len(r.DataCenters) == 0 {
			return errors.New("NetworkTopologyStrategy needs at least one data centre")
		}
		for dc, n := range r.DataCenters {
			if !dcName.MatchString(dc) {
				return fmt.Errorf("data centre name %q: letters, digits, _ . - only", dc)
			}
			if n < 0 || n > 32 {
				return fmt.Errorf("data centre %s: replication factor must be between 0 and 32", dc)
			}
		}
	default:
		return fmt.Errorf("unknown replication class %q", r.Class)
	}
	return nil
}

// String is the form ParseReplication reads.
func (r Replication) String() string {
	if r.Class != NetworkTopologyStrategy {
		return fmt.Sprintf("%s:%d", r.Class, r.Factor)
	}
	var parts []string
	for _, dc := range slices.Sorted(maps.Keys(r.DataCenters)) {
		parts = append(parts, fmt.Sprintf("%s=%d", dc, r.DataCenters[dc]))
	}
	return r.Class + ":" + strings.Join(parts, ",")
}

// cql is r as a CQL replication map.
func (r Replication) cql() string {
	if r.Class != NetworkTopologyStrategy {
		return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", r.Factor)
	}
	parts := []string{"'class': 'NetworkTopologyStrategy'"}
	for _, dc := range slices.Sorted(maps.Keys(r.DataCenters)) {
		parts = append(parts, fmt.Sprintf("'%s': %d", dc, r.DataCenters[dc]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
