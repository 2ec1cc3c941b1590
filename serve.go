package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/tradetop/tradetop/alert"
	"github.com/tradetop/tradetop/api"
	"github.com/tradetop/tradetop/auth"
	"github.com/tradetop/tradetop/datadir"
	"github.com/tradetop/tradetop/metrics"
	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/pipeline"
	"github.com/tradetop/tradetop/sshui"
)

// minTokenLen is the shortest control token taken: anything shorter could
// be guessed by whoever reaches the port.
const minTokenLen = 16

// secureServing reads the control token and the --listen TLS files, and
// refuses what would open the pipeline to others unguarded: --listen on an
// address other machines reach, without a token, unless --listen-insecure
// says so.
func (o *options) secureServing(getenv func(string) string) error {
	token, err := auth.Password(getenv, controlTokenEnv, o.controlTokenFile)
	if err != nil {
		return fmt.Errorf("invalid value for flag -control-token-file: %v", strings.ReplaceAll(err.Error(), "password", "token"))
	}
	if o.controlTokenFile != "" && o.listen == "" {
		return errors.New("invalid value for flag -control-token-file: the control token guards --listen's API; set --listen too")
	}
	if o.listen != "" && token != "" && len(token) < minTokenLen {
		return fmt.Errorf("invalid control token (%s or --control-token-file): %d characters; use at least %d, such as the output of: openssl rand -hex 32", controlTokenEnv, len(token), minTokenLen)
	}
	o.controlToken = token
	switch {
	case o.listenTLSCert != "" && o.listenTLSKey == "":
		return errors.New("invalid value for flag -listen-tls-cert: it needs --listen-tls-key too")
	case o.listenTLSKey != "" && o.listenTLSCert == "":
		return errors.New("invalid value for flag -listen-tls-key: it needs --listen-tls-cert too")
	case o.listenTLSCert != "" && o.listen == "":
		return errors.New("invalid value for flag -listen-tls-cert: it applies to --listen; set --listen too")
	case o.listenTLSCert != "":
		cert, err := tls.LoadX509KeyPair(o.listenTLSCert, o.listenTLSKey)
		if err != nil {
			return fmt.Errorf("invalid value for flag -listen-tls-cert: %s", oneLine(err.Error()))
		}
		o.listenTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if o.listenInsecure && o.listen == "" {
		return errors.New("invalid value for flag -listen-insecure: it applies to --listen; set --listen too")
	}
	if o.listen != "" && !loopbackOnly(o.listen) && o.controlToken == "" && !o.listenInsecure {
		return fmt.Errorf("invalid value for flag -listen: %q is reachable from other machines: set a control token (%s or --control-token-file), or say --listen-insecure to let them read without one",
			o.listen, controlTokenEnv)
	}
	switch {
	case o.ssh != "" && o.sshAuthorizedKeys == "":
		return errors.New("invalid value for flag -ssh: it needs --ssh-authorized-keys, the public keys that may connect")
	case o.ssh == "" && o.sshAuthorizedKeys != "":
		return errors.New("invalid value for flag -ssh-authorized-keys: it applies to --ssh; set --ssh too")
	case o.ssh == "" && o.sshOperators != "":
		return errors.New("invalid value for flag -ssh-operators: it applies to --ssh; set --ssh too")
	}
	return nil
}

// oneLine joins the lines of an error message.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// loopbackOnly says whether addr (host:port) can be reached only from this
// machine: a loopback IP or localhost. An empty host, a wildcard or any
// other name is reachable from elsewhere, or may be.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// openReads says whether the control API's reads need no token: the
// server is reachable only from this machine, or the operator said so.
func (o *options) openReads() bool {
	return loopbackOnly(o.listen) || (o.listenInsecure && o.controlToken == "")
}

// listeners are the addresses the process serves on, opened before the
// pipeline starts so that a taken port is a usage error.
type listeners struct {
	http, ssh net.Listener
}

// listen opens --listen and --ssh; errors name the flag.
func listen(o options) (listeners, error) {
	var l listeners
	var err error
	if o.listen != "" {
		if l.http, err = net.Listen("tcp", o.listen); err != nil {
			return l, fmt.Errorf("invalid value for flag -listen: %v", err)
		}
	}
	if o.ssh != "" {
		if l.ssh, err = net.Listen("tcp", o.ssh); err != nil {
			l.Close()
			return l, fmt.Errorf("invalid value for flag -ssh: %v", err)
		}
	}
	return l, nil
}

// Close closes what is open.
func (l listeners) Close() {
	for _, ln := range []net.Listener{l.http, l.ssh} {
		if ln != nil {
			ln.Close()
		}
	}
}

// usageError is an error of the command line found once the pipeline is
// wired (a key file, say): the command exits 2 with it.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// serving is what the process serves besides its pipeline: metrics,
// probes and the control API on --listen, the terminal UI on --ssh.
type serving struct {
	api   *api.Server
	ssh   *sshui.Server
	http  *http.Server
	close []func()
}

// serve starts serving p on the listeners that are open. stop drains the
// pipeline; the control API's stop and an ssh operator's call it.
// alerter, unless nil, adds its counts to the metrics. marketCap is the
// universe's, for the ssh sessions' symbol tables.
func serve(o options, ls listeners, p *pipeline.Pipeline, watch *monitor.Watcher, alerter *alert.Alerter, stop func(), marketCap func(string, float64) (float64, bool), log *slog.Logger) (*serving, error) {
	s := &serving{}
	if ls.ssh != nil {
		var err error
		s.ssh, err = sshui.New(sshui.Config{
			HostKeyPath:    filepath.Join(o.dataDir, datadir.SSHHostKey),
			AuthorizedKeys: o.sshAuthorizedKeys,
			Operators:      o.sshOperators,
			Source:         p,
			StopService: func() error {
				log.Info("stopping: asked by an operator over ssh; draining")
				stop()
				return nil
			},
			MarketCap: marketCap,
			Log:       log,
		})
		if err != nil {
			// Name the flag whose file is wrong; the host key lives in the
			// data directory.
			flag := "data-dir"
			switch msg := err.Error(); {
			case strings.HasPrefix(msg, "ssh authorized keys"):
				flag = "ssh-authorized-keys"
			case strings.HasPrefix(msg, "ssh operator keys"):
				flag = "ssh-operators"
			}
			return s, usageError{fmt.Errorf("invalid value for flag -%s: %w", flag, err)}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := s.ssh.Serve(ctx, ls.ssh); err != nil {
				log.Error("serving --ssh", "listen", ls.ssh.Addr().String(), "error", err)
			}
		}()
		s.close = append(s.close, func() { cancel(); <-done })
		log.Info("serving the terminal UI over ssh", "listen", ls.ssh.Addr().String(), "operators", o.sshOperators != "")
	}
	ln := ls.http
	if ln == nil {
		return s, nil
	}
	s.api = api.New(p, api.Options{
		Token:     o.controlToken,
		OpenReads: o.openReads(),
		Stop: func() {
			log.Info("stopping: asked through the control API; draining")
			stop()
		},
		Version: version(),
		Log:     log,
	})
	viewers := metrics.Viewers{API: s.api.Viewers}
	if s.ssh != nil {
		viewers.SSH = s.ssh.Sessions
	}
	var alerts metrics.Alerts
	if alerter != nil {
		alerts = alerter
	}
	mux := metrics.Handler(watch, version(), viewers, alerts)
	s.api.Register(mux)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	scheme := "http"
	if o.listenTLS != nil {
		ln = tls.NewListener(ln, o.listenTLS)
		scheme = "https"
	}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving --listen", "listen", ln.Addr().String(), "error", err)
		}
	}()
	s.close = append(s.close, func() { s.http.Close() })
	controls := "on (bearer token)"
	if o.controlToken == "" {
		controls = "off (no control token)"
	}
	log.Info("serving metrics and the control API", "url", scheme+"://"+ln.Addr().String(), "controls", controls, "reads_open", o.openReads())
	return s, nil
}

// Close stops serving.
func (s *serving) Close() {
	for _, f := range s.close {
		f()
	}
}
