package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/charmbracelet/x/term"
	"golang.org/x/sync/errgroup"

	"github.com/tradetop/tradetop/bus"
	"github.com/tradetop/tradetop/schema"
	"github.com/tradetop/tradetop/trade"
)

const topicUsage = `tradetop topic: look inside the topic, and re-drive dead letters.

Prints a page of the topic's messages, newest first: for each its
partition, offset, timestamp, key and headers, and its value decoded as a
trade (saying its form: json, avro or avro registry id N) or why it does
not decode. With --dlq it reads the dead-letter topic (<topic>.dlq) and
says why each message was dead-lettered and where it was read.

Usage: tradetop topic [--dlq] [--partition N] [--offset N | --time RFC3339]
                      [--limit N] [--oldest-first] [--follow] [--json] [kafka flags]
       tradetop topic redrive (--partition N --offset N | --all) [--yes] [kafka flags]

--offset and --time say where the page is: newest first, it ends at that
offset (or just before that time); oldest first, it starts there. redrive
copies dead letters back to the topic, their value, key and own headers
unchanged: a trade keeps its ID, so one re-driven twice is stored once. It
asks first on the terminal, unless --yes.

The embedded broker lives inside the tradetop that runs it: browse it there
(key b). This command needs --brokers.

Flags:
`

// topicOptions are tradetop topic's command line.
type topicOptions struct {
	// kafka holds the Kafka connection flags, as the pipeline reads them.
	kafka options

	redrive     bool
	dlq         bool
	partition   int
	offset      int64
	at          timeValue
	limit       int
	oldestFirst bool
	follow      bool
	json        bool
	all         bool
	yes         bool
}

// topicLimit is --limit's default.
const topicLimit = 20

func topicFlags(o *topicOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("tradetop topic", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kafkaFlags(fs, &o.kafka)
	fs.BoolVar(&o.dlq, "dlq", false, "read the dead-letter topic, <topic>.dlq")
	fs.IntVar(&o.partition, "partition", -1, "the partition to read (default: every one); redrive: the dead letter's")
	fs.Int64Var(&o.offset, "offset", -1, "where the page is: newest first it ends at this offset, oldest first it starts there; redrive: the dead letter's")
	fs.Var(&o.at, "time", "where the page is, as an RFC 3339 time: newest first it ends before it, oldest first it starts there")
	fs.IntVar(&o.limit, "limit", topicLimit, fmt.Sprintf("most messages of each partition's page, 1 to %d", bus.MaxPage))
	fs.BoolVar(&o.oldestFirst, "oldest-first", false, "page forward from --offset or --time (default: from the partition's start)")
	fs.BoolVar(&o.follow, "follow", false, "after the page, print new messages as they arrive, until interrupted")
	fs.BoolVar(&o.json, "json", false, "one JSON object a message, a line each")
	fs.BoolVar(&o.all, "all", false, "redrive: every dead letter up to the dead-letter topic's end now")
	fs.BoolVar(&o.yes, "yes", false, "redrive: do not ask first")
	return fs
}

// sharedFlags are topic's flags that the environment sets as it sets the
// pipeline's: how to reach Kafka.
func sharedFlags() map[string]bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	kafkaFlags(fs, new(options))
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// parseTopic reads topic's command line, its Kafka flags layered over the
// environment as the pipeline's are, and checks it. Every error is one line.
func parseTopic(args []string, env environment) (topicOptions, *flag.FlagSet, error) {
	var o topicOptions
	if len(args) > 0 && args[0] == "redrive" {
		o.redrive, args = true, args[1:]
	}
	fs := topicFlags(&o)
	probe := topicFlags(new(topicOptions))
	if err := probe.Parse(args); err != nil {
		return o, fs, err
	}
	onCommandLine := map[string]bool{}
	probe.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	shared := sharedFlags()
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if !shared[f.Name] || onCommandLine[f.Name] || envErr != nil {
			return
		}
		if v := env.get(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("invalid value %q for %s: %v", trade.Excerpt(v, maxQuoted), envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return o, fs, envErr
	}
	if err := fs.Parse(args); err != nil {
		return o, fs, err
	}
	if fs.NArg() > 0 {
		return o, fs, fmt.Errorf("unexpected argument %q", trade.Excerpt(fs.Arg(0), maxQuoted))
	}
	if err := o.validate(onCommandLine); err != nil {
		return o, fs, err
	}
	return o, fs, o.kafka.secureKafka(env.get)
}

// validate checks o; set names the flags given on the command line.
func (o *topicOptions) validate(set map[string]bool) error {
	k := &o.kafka
	if len(k.brokers) == 0 {
		return errors.New("invalid value for flag -brokers: tradetop topic needs --brokers; the embedded broker lives inside the tradetop that runs it: press b in its terminal UI")
	}
	for _, b := range k.brokers {
		if err := bus.ValidateBroker(b); err != nil {
			return fmt.Errorf("invalid value for flag -brokers: %v", err)
		}
	}
	if err := bus.ValidateTopic(k.topic); err != nil {
		return fmt.Errorf("invalid value for flag -topic: %v", err)
	}
	if err := bus.ValidateTopic(k.topic + ".dlq"); err != nil {
		return fmt.Errorf("invalid value for flag -topic: its dead-letter topic: %v", err)
	}
	if k.schemaRegistry != "" {
		if err := schema.ValidateRegistryURL(k.schemaRegistry); err != nil {
			return fmt.Errorf("invalid value for flag -schema-registry: %v", err)
		}
	}
	switch {
	case o.partition < -1:
		return errors.New("invalid value for flag -partition: must not be negative")
	case o.offset < -1:
		return errors.New("invalid value for flag -offset: must not be negative")
	}
	if o.redrive {
		for _, name := range []string{"dlq", "time", "limit", "oldest-first", "follow", "json"} {
			if set[name] {
				return fmt.Errorf("invalid value for flag -%s: it applies to listing messages, not to redrive", name)
			}
		}
		switch {
		case o.all && (set["partition"] || set["offset"]):
			return errors.New("invalid value for flag -all: give --all, or --partition and --offset of one dead letter, not both")
		case !o.all && (!set["partition"] || !set["offset"]):
			return errors.New("invalid value for flag -offset: redrive needs --partition and --offset of one dead letter, or --all")
		}
		return nil
	}
	for _, name := range []string{"all", "yes"} {
		if set[name] {
			return fmt.Errorf("invalid value for flag -%s: it applies to tradetop topic redrive", name)
		}
	}
	switch {
	case set["offset"] && set["time"]:
		return errors.New("invalid value for flag -time: give --offset or --time, not both")
	case set["offset"] && o.partition < 0:
		return errors.New("invalid value for flag -offset: an offset is of one partition: give --partition too")
	case o.limit < 1 || o.limit > bus.MaxPage:
		return fmt.Errorf("invalid value for flag -limit: must be between 1 and %d", bus.MaxPage)
	}
	return nil
}

// runTopic is `tradetop topic`: a page of the topic's messages, or a
// re-drive of dead letters.
func runTopic(args []string, env environment, stdout, stderr io.Writer) int {
	o, fs, err := parseTopic(args, env)
	if code, done := parsed(err, fs, topicUsage, "tradetop topic", stdout, stderr); done {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	dec, err := newDecoder(o.kafka)
	if err != nil {
		fmt.Fprintf(stderr, "tradetop: %v\n", err)
		return exitUsage
	}
	b := bus.NewBrowser(o.kafka.kafkaConfig("topic", nil))
	defer b.Close()
	if o.redrive {
		return redrive(ctx, o, b, stdout, stderr)
	}
	if err := listTopic(ctx, o, b, dec, stdout); err != nil {
		fmt.Fprintf(stderr, "tradetop: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// listTopic prints a page of each partition o names, then, with --follow,
// what arrives after it until ctx is done.
func listTopic(ctx context.Context, o topicOptions, b *bus.Browser, dec *schema.Decoder, stdout io.Writer) error {
	cfg := b.Config()
	topic := cfg.Topic
	if o.dlq {
		topic = cfg.DLQTopic
	}
	parts, err := b.Partitions(ctx, topic)
	if err != nil {
		return err
	}
	if o.partition >= 0 {
		i := -1
		for j, p := range parts {
			if p.Partition == o.partition {
				i = j
			}
		}
		if i < 0 {
			return fmt.Errorf("topic %s has no partition %d: it has %d", topic, o.partition, len(parts))
		}
		parts = parts[i : i+1]
	}
	out := &printer{w: stdout, json: o.json, dec: dec}
	// next is where each partition's follow starts: after what its page
	// shows.
	next := make([]int64, len(parts))
	for i, p := range parts {
		q := bus.PageQuery{Topic: topic, Partition: p.Partition, Offset: -1, N: o.limit, OldestFirst: o.oldestFirst}
		switch {
		case !o.at.isZero():
			if q.Offset, err = b.OffsetAt(ctx, topic, p.Partition, o.at.time()); err != nil {
				return err
			}
		case o.offset >= 0 && o.oldestFirst:
			q.Offset = o.offset
		case o.offset >= 0:
			q.Offset = o.offset + 1 // newest first, the page ends at it
		case !o.oldestFirst:
			q.Offset = p.End
		}
		msgs, err := b.Page(ctx, q)
		if err != nil {
			return err
		}
		for j := range msgs {
			if err := out.print(&msgs[j]); err != nil {
				return err
			}
		}
		switch {
		case o.oldestFirst && len(msgs) > 0:
			next[i] = msgs[len(msgs)-1].Offset + 1
		case o.oldestFirst:
			next[i] = max(q.Offset, p.Start)
		default:
			next[i] = q.Offset
		}
	}
	if !o.follow {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range parts {
		g.Go(func() error {
			return b.Follow(gctx, topic, p.Partition, next[i], func(m bus.Message) error { return out.print(&m) })
		})
	}
	return g.Wait()
}

// printer writes messages as text or JSON lines. Any goroutine may call
// print; the lines of two messages never mix.
type printer struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
	dec  *schema.Decoder
}

func (p *printer) print(m *bus.Message) error {
	i := inspect(m, p.dec)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		if err := json.NewEncoder(p.w).Encode(i); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
		return nil
	}
	if err := i.writeText(p.w); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

// redrive is `tradetop topic redrive`: it copies one dead letter, or all,
// back to the topic, once confirmed.
func redrive(ctx context.Context, o topicOptions, b *bus.Browser, stdout, stderr io.Writer) int {
	cfg := b.Config()
	what := fmt.Sprintf("the dead letter %s/%d@%d", cfg.DLQTopic, o.partition, o.offset)
	if o.all {
		n, err := b.Pending(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "tradetop: %v\n", err)
			return exitFailure
		}
		if n == 0 {
			fmt.Fprintf(stdout, "tradetop: %s holds no dead letters\n", cfg.DLQTopic)
			return exitOK
		}
		what = fmt.Sprintf("%d dead letters of %s", n, cfg.DLQTopic)
	}
	if !o.yes {
		if !term.IsTerminal(os.Stdin.Fd()) {
			fmt.Fprintf(stderr, "tradetop: invalid value for flag -yes: redrive asks before it writes, on a terminal; with no terminal give --yes\n")
			return exitUsage
		}
		fmt.Fprintf(stderr, "re-drive %s to %s? [y/N] ", what, cfg.Topic)
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(stderr, "tradetop: nothing re-driven")
			return exitFailure
		}
	}
	if !o.all {
		m, err := b.Redrive(ctx, o.partition, o.offset)
		if err != nil {
			fmt.Fprintf(stderr, "tradetop: %v\n", err)
			return exitFailure
		}
		d, _ := bus.DeadLetterOf(&m)
		fmt.Fprintf(stdout, "tradetop: re-drove %s to %s (dead-lettered from %s/%d@%d: %s)\n",
			what, cfg.Topic, d.SourceTopic, d.SourcePartition, d.SourceOffset, d.Reason)
		return exitOK
	}
	done, err := b.RedriveAll(ctx)
	fmt.Fprintf(stdout, "tradetop: re-drove %d dead letters of %s to %s\n", done.Copied, cfg.DLQTopic, cfg.Topic)
	for _, r := range done.Refused {
		fmt.Fprintf(stderr, "tradetop: left %s/%d@%d: %v\n", cfg.DLQTopic, r.Partition, r.Offset, r.Err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tradetop: %v\n", err)
		return exitFailure
	}
	if len(done.Refused) > 0 {
		return exitFailure
	}
	return exitOK
}
