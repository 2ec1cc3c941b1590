package bus

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tradetop/tradetop/auth"
	"github.com/tradetop/tradetop/auth/authtest"
	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/trade"
)

// The real-Kafka TLS tests run against the SSL and SASL_SSL listeners of
// scripts/devstack (see docs/devstack.md):
//
//	TRADETOP_E2E_KAFKA_TLS=127.0.0.1:9094
//	TRADETOP_E2E_KAFKA_SASL=127.0.0.1:9095
//	TRADETOP_E2E_KAFKA_PASSWORD_FILE=$PWD/.devstack/tls/kafka-password
//	TRADETOP_E2E_TLS_CA=$PWD/.devstack/tls/ca.pem
//
// TRADETOP_E2E_KAFKA_USER names the SASL user, tradetop by default.
const (
	e2eKafkaTLSEnv      = "TRADETOP_E2E_KAFKA_TLS"
	e2eKafkaSASLEnv     = "TRADETOP_E2E_KAFKA_SASL"
	e2ePasswordFileEnv  = "TRADETOP_E2E_KAFKA_PASSWORD_FILE"
	e2eKafkaUserEnv     = "TRADETOP_E2E_KAFKA_USER"
	e2eTLSCAEnv         = "TRADETOP_E2E_TLS_CA"
	e2eDefaultKafkaUser = "tradetop"
)

// e2eEnv returns the values of the variables names, or skips the test when
// one is not set (under CI=true, fails it), saying what they should hold.
func e2eEnv(t *testing.T, what string, names ...string) []string {
	t.Helper()
	return e2e.Need(t, what+", e.g. from scripts/devstack up", names...)
}

// caConfig is the client TLS configuration the command builds from
// --kafka-tls-ca file.
func caConfig(t *testing.T, file string) *tls.Config {
	t.Helper()
	c, err := auth.TLS{CAFile: file}.Config()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCA writes a CA that signed nothing the servers present, and returns
// the client configuration that trusts it alone.
func wrongCA(t *testing.T) *tls.Config {
	t.Helper()
	file, _ := authtest.New(t).WriteFiles(t, t.TempDir())
	return caConfig(t, file)
}

// realCluster returns a Config for the real broker addr, with a topic and
// group of the test's own.
func realCluster(addr string, tlsCfg *tls.Config, mech *SASL) Config {
	name := "tls-e2e-" + strings.ToLower(rand.Text()[:10])
	return Config{
		Brokers:        []string{addr},
		Topic:          name,
		Group:          name,
		Partitions:     3,
		TLS:            tlsCfg,
		SASL:           mech,
		RequestTimeout: 10 * time.Second,
		DialTimeout:    5 * time.Second,
	}.WithDefaults()
}

// deleteTopics deletes cfg's topics when the test ends.
func deleteTopics(t *testing.T, cfg Config) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := newClient(cfg)
		defer closeClient(c)
		resp, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{cfg.Topic, cfg.DLQTopic}})
		if err == nil {
			for _, e := range resp.Errors {
				if e != nil && !errors.Is(e, kafka.UnknownTopicOrPartition) {
					err = e
				}
			}
		}
		if err != nil {
			t.Logf("deleting topics %s, %s: %v", cfg.Topic, cfg.DLQTopic, err)
		}
	})
}

// realRoundTrip creates the topic, produces trades, consumes them in the
// group with commits and checks the lag is zero: every path bus connects
// by, through cfg.
func realRoundTrip(t *testing.T, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	deleteTopics(t, cfg)
	admin := NewAdmin(cfg)
	defer admin.Close()
	info, err := admin.EnsureTopic(ctx, cfg.Topic)
	if err != nil || !info.Created || info.Partitions != cfg.Partitions {
		t.Fatalf("creating topic %s: %+v, %v", cfg.Topic, info, err)
	}
	p := NewProducer(cfg)
	defer p.Close()
	in := trades(50)
	if err := p.Send(ctx, in, 0); err != nil {
		t.Fatalf("producing: %v", err)
	}
	got := consumeReal(t, cfg, len(in))
	for _, tr := range in {
		if got[tr.ID] != tr {
			t.Errorf("trade %s: got %+v, want %+v", tr.ID, got[tr.ID], tr)
		}
	}
	lag, err := admin.Lag(ctx, cfg.Group, cfg.Topic)
	if err != nil {
		t.Fatalf("reading lag: %v", err)
	}
	var end int64
	for _, l := range lag {
		if l.Lag != 0 {
			t.Errorf("partition %d: %+v, want committed at the end", l.Partition, l)
		}
		end += l.End
	}
	if end != int64(len(in)) {
		t.Errorf("end offsets add up to %d, want %d", end, len(in))
	}
}

// consumeReal runs one member of the group until it has seen want
// messages in total, committing each partition's end. Unlike consume, it
// rides out the temporary group errors a real broker answers with while
// its coordinator loads or moves, as the pipeline does.
func consumeReal(t *testing.T, cfg Config, want int) map[string]trade.Trade {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string]trade.Trade{}
	seen := make(chan trade.Trade)
	c := NewConsumer(cfg, slog.New(slog.DiscardHandler))
	c.OnError = func(err error) {
		if Temporary(err) {
			t.Logf("consumer, retrying: %v", err)
			return
		}
		t.Errorf("consumer: %v", err)
		cancel()
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(ctx context.Context, cl *Claim) error {
			end, err := cl.EndOffset(ctx)
			if err != nil {
				return err
			}
			for next := cl.Start; next < end; {
				select {
				case m, ok := <-cl.Messages():
					if !ok {
						return ctx.Err()
					}
					var tr trade.Trade
					if err := trade.UnmarshalJSON(m.Value, &tr); err != nil {
						return err
					}
					seen <- tr
					next = m.Offset + 1
					cl.Commit(next, "")
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return cl.Flush(ctx)
		})
	}()
	for {
		select {
		case tr := <-seen:
			got[tr.ID] = tr
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != want {
				t.Fatalf("consumed %d distinct trades, want %d", len(got), want)
			}
			return got
		case <-ctx.Done():
			t.Fatalf("stopped with %d of %d trades: %v", len(got), want, ctx.Err())
		}
	}
}

// untrusted reports whether err is, and says it is, a broker certificate
// that no trusted authority signed. The consumer group's errors come from
// kafka-go's own dials, unexplained: for it the x509 error says it
// ("certificate signed by unknown authority").
func untrusted(call string, err error) bool {
	var unknown x509.UnknownAuthorityError
	return errors.As(err, &unknown) &&
		(call == "Consumer.Run" || strings.Contains(err.Error(), "not trusted") && strings.Contains(err.Error(), "--kafka-tls-ca"))
}

const tlsWhat = "the SSL listener of a real Kafka and the CA file that signs its certificate"

func TestTLSRealKafka(t *testing.T) {
	env := e2eEnv(t, tlsWhat, e2eKafkaTLSEnv, e2eTLSCAEnv)
	realRoundTrip(t, realCluster(env[0], caConfig(t, env[1]), nil))
}

func TestTLSRealKafkaWrongCA(t *testing.T) {
	env := e2eEnv(t, tlsWhat, e2eKafkaTLSEnv, e2eTLSCAEnv)
	failsFast(t, realCluster(env[0], wrongCA(t), nil), 15*time.Second, 10*time.Second, untrusted)
}

// saslEnv returns the SASL_SSL listener, the CA file, the user and the
// password, or skips the test.
func saslEnv(t *testing.T) (addr, ca, user, password string) {
	t.Helper()
	env := e2eEnv(t, "the SASL_SSL listener of a real Kafka, the CA file that signs its certificate and a file holding the password",
		e2eKafkaSASLEnv, e2eTLSCAEnv, e2ePasswordFileEnv)
	password, err := auth.Password(func(string) string { return "" }, "", env[2])
	if err != nil {
		t.Fatal(err)
	}
	user = os.Getenv(e2eKafkaUserEnv)
	if user == "" {
		user = e2eDefaultKafkaUser
	}
	return env[0], env[1], user, password
}

func TestTLSSASLRealKafka(t *testing.T) {
	addr, ca, user, password := saslEnv(t)
	for _, name := range []string{"plain", "scram-sha-512"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			realRoundTrip(t, realCluster(addr, caConfig(t, ca), mustMechanism(t, name, user, password)))
		})
	}
}

func TestTLSSASLRealKafkaWrongPassword(t *testing.T) {
	addr, ca, user, password := saslEnv(t)
	refused := func(_ string, err error) bool {
		return errors.Is(err, kafka.SASLAuthenticationFailed) && strings.Contains(err.Error(), "uthentication failed")
	}
	for _, name := range []string{"plain", "scram-sha-512"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			failsFast(t, realCluster(addr, caConfig(t, ca), mustMechanism(t, name, user, password+"-wrong")), 15*time.Second, 10*time.Second, refused)
		})
	}
}
