package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/term"

	"github.com/tradetop/tradetop/auth"
	"github.com/tradetop/tradetop/remote"
	"github.com/tradetop/tradetop/trade"
	"github.com/tradetop/tradetop/tui"
)

const attachUsage = `tradetop attach: the terminal UI of a tradetop that runs elsewhere.

Shows the pipeline of a tradetop started with --listen, through its control
API: the same panes, keys and detail view. q leaves the viewer and the
service runs on; Q stops the service, after a confirmation. Controls need
the service's control token, from ` + controlTokenEnv + ` or
--control-token-file; without it the viewer is read-only. When the service
goes away the viewer says so and reconnects, and shows its next run.

Usage: tradetop attach [flags] URL     (for example http://127.0.0.1:9464)

Flags:
`

// attachOptions are attach's command line.
type attachOptions struct {
	tokenFile string
	tlsCA     string
	insecure  bool
	url       string
	token     string
}

func attachFlags(o *attachOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("tradetop attach", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.tokenFile, "control-token-file", "", "file whose first line is the service's control token (or "+controlTokenEnv+")")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "PEM file of the authorities that sign an https service's certificate (default: the system's)")
	fs.BoolVar(&o.insecure, "tls-insecure-skip-verify", false, "accept any certificate of an https service (tests only)")
	return fs
}

// parseAttach reads attach's command line: flags, then the URL.
func parseAttach(args []string, env environment) (attachOptions, *flag.FlagSet, error) {
	var o attachOptions
	fs := attachFlags(&o)
	if err := fs.Parse(args); err != nil {
		return o, fs, err
	}
	switch fs.NArg() {
	case 0:
		return o, fs, errors.New("attach needs the URL of a tradetop started with --listen, e.g. http://127.0.0.1:9464")
	case 1:
	default:
		return o, fs, fmt.Errorf("unexpected argument %q after the URL", trade.Excerpt(fs.Arg(1), maxQuoted))
	}
	o.url = fs.Arg(0)
	if _, err := remote.ParseURL(o.url); err != nil {
		return o, fs, fmt.Errorf("invalid URL: %v", err)
	}
	token, err := auth.Password(env.get, controlTokenEnv, o.tokenFile)
	if err != nil {
		return o, fs, fmt.Errorf("invalid value for flag -control-token-file: %v", err)
	}
	o.token = token
	return o, fs, nil
}

// tlsConfig is the TLS configuration for an https service.
func (o attachOptions) tlsConfig() (*tls.Config, error) {
	t := auth.TLS{CAFile: o.tlsCA, InsecureSkipVerify: o.insecure}
	if !t.Enabled() {
		return nil, nil
	}
	c, err := t.Config()
	if err != nil {
		return nil, fmt.Errorf("invalid value for flag -tls-ca: %v", err)
	}
	return c, nil
}

// runAttach is `tradetop attach`: the terminal UI over a remote service.
func runAttach(args []string, env environment, stdout, stderr io.Writer) int {
	o, fs, err := parseAttach(args, env)
	if code, done := parsed(err, fs, attachUsage, "tradetop attach", stdout, stderr); done {
		return code
	}
	tlsConf, err := o.tlsConfig()
	if err != nil {
		fmt.Fprintf(stderr, "tradetop: %v\n", err)
		return exitUsage
	}
	if !term.IsTerminal(os.Stdout.Fd()) {
		fmt.Fprintln(stderr, "tradetop: attach shows the terminal UI and needs a terminal on standard output")
		return exitUsage
	}
	c, err := remote.Dial(o.url, remote.Options{Token: o.token, TLS: tlsConf})
	if err != nil {
		fmt.Fprintf(stderr, "tradetop: invalid URL: %v\n", err)
		return exitUsage
	}
	defer c.Close()
	lipgloss.HasDarkBackground()
	m := tui.New(c, tui.Options{Viewer: true, StopService: c.Stop})
	if _, err := tea.NewProgram(m, tea.WithAltScreen(), tea.WithMouseCellMotion()).Run(); err != nil {
		fmt.Fprintf(stderr, "tradetop: terminal UI: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "tradetop: closed the viewer of %s\n", o.url)
	return exitOK
}
