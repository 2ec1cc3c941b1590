package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tradetop/tradetop/auth/authtest"
)

const (
	testUser     = "alice"
	testPassword = "s3cret-Pa55"
)

// secureCluster starts a one-broker cluster with opts (SASL users, TLS) and
// the topics trades (3 partitions) and trades.dlq (1), and returns a Config
// that reaches it with tlsCfg and mech.
func secureCluster(t *testing.T, tlsCfg *tls.Config, mech *SASL, opts ...kfake.Opt) Config {
	t.Helper()
	opts = append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(0),
		kfake.SeedTopics(3, "trades"),
		kfake.SeedTopics(1, "trades.dlq"),
	}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return Config{
		Brokers:        c.ListenAddrs(),
		Partitions:     3,
		TLS:            tlsCfg,
		SASL:           mech,
		RequestTimeout: 3 * time.Second,
		DialTimeout:    3 * time.Second,
	}.WithDefaults()
}

// selfSigned returns a server configuration with a new self-signed
// certificate for 127.0.0.1 and localhost, and a client configuration that
// trusts it and nothing else.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	c := authtest.New(t)
	return c.Server(), c.Client()
}

func mustMechanism(t *testing.T, name, user, password string) *SASL {
	t.Helper()
	m, err := SASLMechanism(name, user, password)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSecureRoundTrip runs every connection bus makes through SASL, TLS and
// both: a cluster that requires them closes any connection that skips them,
// so a path without them fails here.
func TestSecureRoundTrip(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	tests := []struct {
		name      string
		mechanism string // "" for none
		tls       bool
	}{
		{"sasl plain", "plain", false},
		{"sasl scram-sha-256", "scram-sha-256", false},
		{"sasl scram-sha-512", "SCRAM-SHA-512", false},
		{"tls", "", true},
		{"tls and sasl scram-sha-512", "scram-sha-512", true},
		{"tls and sasl plain", "PLAIN", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []kfake.Opt
			var clientCfg *tls.Config
			if tt.tls {
				opts = append(opts, kfake.TLS(serverTLS))
				clientCfg = clientTLS
			}
			mech := mustMechanism(t, tt.mechanism, testUser, testPassword)
			if mech != nil {
				opts = append(opts, kfake.EnableSASL(), kfake.Superuser(mech.Name(), testUser, testPassword))
			}
			cfg := secureCluster(t, clientCfg, mech, opts...)
			roundTrip(t, cfg)
		})
	}
}

// roundTrip produces, dead-letters, consumes with commits, and reads lag
// and topics through cfg, failing on the first path that cannot connect.
func roundTrip(t *testing.T, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	admin := NewAdmin(cfg)
	defer admin.Close()
	info, err := admin.EnsureTopic(ctx, "fresh")
	if err != nil || !info.Created || info.Partitions != cfg.Partitions {
		t.Fatalf("creating a topic: %+v, %v", info, err)
	}

	p := NewProducer(cfg)
	defer p.Close()
	in := trades(90)
	if err := p.Send(ctx, in, 0); err != nil {
		t.Fatalf("producing: %v", err)
	}

	d := NewDeadLetters(cfg)
	defer d.Close()
	if err := d.Send(ctx, Message{Topic: cfg.Topic, Value: []byte("{")}, errors.New("not json")); err != nil {
		t.Fatalf("dead-lettering: %v", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, Topic: cfg.DLQTopic, Partition: 0,
		Dialer: cfg.Dialer(), MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	if m, err := r.FetchMessage(ctx); err != nil || string(m.Value) != "{" {
		t.Fatalf("reading the dead letter: %q, %v", m.Value, err)
	}

	got, _ := consume(t, cfg, len(in))
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
		if l.Lag != 0 || l.Committed != l.End {
			t.Errorf("partition %d: %+v, want committed at the end", l.Partition, l)
		}
		end += l.End
	}
	if end != int64(len(in)) {
		t.Errorf("end offsets add up to %d, want %d", end, len(in))
	}
}

// TestBadCredentialsFailFast checks that a wrong password or an untrusted
// certificate ends each call with an error that says so, well within its
// timeout, instead of hanging or retrying forever.
func TestBadCredentialsFailFast(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	wrong := func(name string) *SASL { return mustMechanism(t, name, testUser, "wrong") }
	refused := func(err error) bool { return errors.Is(err, kafka.SASLAuthenticationFailed) }
	untrusted := func(err error) bool {
		var unknown x509.UnknownAuthorityError
		return errors.As(err, &unknown)
	}
	tests := []struct {
		name string
		opts []kfake.Opt
		tls  *tls.Config
		mech *SASL
		// says reports whether the error says what is wrong; nil when
		// the broker only closes the connection and nothing can.
		says func(error) bool
	}{
		{"wrong plain password",
			[]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", testUser, testPassword)},
			nil, wrong("plain"), refused},
		{"wrong scram-sha-256 password",
			[]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", testUser, testPassword)},
			nil, wrong("scram-sha-256"), refused},
		{"wrong scram-sha-512 password over tls",
			[]kfake.Opt{kfake.TLS(serverTLS), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", testUser, testPassword)},
			clientTLS, wrong("scram-sha-512"), refused},
		{"no sasl where the cluster requires it",
			[]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("PLAIN", testUser, testPassword)},
			nil, nil, nil},
		{"untrusted certificate",
			[]kfake.Opt{kfake.TLS(serverTLS)},
			&tls.Config{MinVersion: tls.VersionTLS12}, nil, untrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var says func(string, error) bool
			if tt.says != nil {
				says = func(_ string, err error) bool { return tt.says(err) }
			}
			failsFast(t, secureCluster(t, tt.tls, tt.mech, tt.opts...), 10*time.Second, 8*time.Second, says)
		})
	}
}

// failsFast checks that creating a topic, reading the group's lag,
// producing and joining the group through cfg each fail within `within`,
// with an error that says what is wrong: says(call, err) reports whether
// it does (nil when nothing can, such as a broker that only closes the
// connection). Every call is bounded by deadline, so a hang shows as a
// failure, not as a stuck test.
func failsFast(t *testing.T, cfg Config, deadline, within time.Duration, says func(call string, err error) bool) {
	t.Helper()
	cfg.WriteAttempts = 2
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	check := func(what string, err error, took time.Duration) {
		t.Helper()
		t.Logf("%s failed after %v: %v", what, took.Round(time.Millisecond), err)
		switch {
		case err == nil:
			t.Errorf("%s succeeded", what)
		case ctx.Err() != nil:
			t.Errorf("%s hung until the test's deadline: %v", what, err)
		case says != nil && !says(what, err):
			t.Errorf("%s: error %q does not say what is wrong", what, err)
		case took > within:
			t.Errorf("%s took %v to fail", what, took)
		}
	}

	admin := NewAdmin(cfg)
	defer admin.Close()
	start := time.Now()
	_, err := admin.EnsureTopic(ctx, cfg.Topic)
	check("EnsureTopic", err, time.Since(start))
	start = time.Now()
	_, err = admin.Lag(ctx, cfg.Group, cfg.Topic)
	check("Lag", err, time.Since(start))

	p := NewProducer(cfg)
	defer p.Close()
	start = time.Now()
	check("Send", p.Send(ctx, trades(3), 0), time.Since(start))

	// The consumer retries its group forever, as it must for a broker
	// that restarts, reporting each failure as it goes; it must never be
	// given a partition.
	errs := make(chan error, 100)
	c := NewConsumer(cfg, slog.New(slog.DiscardHandler))
	c.OnError = func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start = time.Now()
	go func() {
		done <- c.Run(cctx, func(context.Context, *Claim) error {
			t.Error("a consumer was given a partition")
			return nil
		})
	}()
	select {
	case err := <-errs:
		check("Consumer.Run", err, time.Since(start))
	case <-ctx.Done():
		t.Error("the consumer reported no error")
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Consumer.Run after cancel: %v", err)
	}
}

func TestSASLMechanism(t *testing.T) {
	tests := []struct {
		name, user string
		want       string // the mechanism's Name, "" for none
		err        string // what the error must say, "" for none
	}{
		{"plain", testUser, "PLAIN", ""},
		{"PLAIN", testUser, "PLAIN", ""},
		{"scram-sha-256", testUser, "SCRAM-SHA-256", ""},
		{"Scram-Sha-256", testUser, "SCRAM-SHA-256", ""},
		{"scram-sha-512", testUser, "SCRAM-SHA-512", ""},
		{"", testUser, "", ""},
		{"none", "", "", ""},
		{"NONE", testUser, "", ""},
		{"gssapi", testUser, "", "want none, plain, scram-sha-256 or scram-sha-512"},
		{"scram-sha-1", testUser, "", "want none, plain, scram-sha-256 or scram-sha-512"},
		{"plain", "", "", "no user"},
		{"scram-sha-512", "", "", "no user"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s as %q", tt.name, tt.user), func(t *testing.T) {
			m, err := SASLMechanism(tt.name, tt.user, testPassword)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %v, want one line saying %q", err, tt.err)
				}
				if m != nil {
					t.Errorf("got mechanism %v with the error", m)
				}
			case err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want == "" && m != nil:
				t.Errorf("got mechanism %v, want none", m)
			case tt.want != "" && (m == nil || m.Name() != tt.want):
				t.Errorf("got mechanism %v, want %s", m, tt.want)
			}
		})
	}
}

func TestConfigPrintHidesPassword(t *testing.T) {
	for _, name := range []string{"plain", "scram-sha-256"} {
		cfg := Config{Brokers: []string{"k:9092"}, SASL: mustMechanism(t, name, testUser, testPassword)}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, cfg)
			if strings.Contains(out, testPassword) {
				t.Errorf("%s printed with %s shows the password: %s", name, verb, out)
			}
			if verb != "%#v" && !strings.Contains(out, testUser) {
				t.Errorf("%s printed with %s does not name the user: %s", name, verb, out)
			}
		}
	}
}

func TestValidateSecurityNeedsBrokers(t *testing.T) {
	mech := mustMechanism(t, "plain", testUser, testPassword)
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"embedded, plain", Config{}, true},
		{"embedded with sasl", Config{SASL: mech}, false},
		{"embedded with tls", Config{TLS: &tls.Config{}}, false},
		{"brokers with tls and sasl", Config{Brokers: []string{"k:9093"}, TLS: &tls.Config{}, SASL: mech}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
