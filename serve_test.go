package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradetop/tradetop/e2e"
)

// TestServingRefusalsAtStart: what would serve the pipeline wrongly or
// not at all is refused before anything runs, with exit 2 and one line
// naming the flag.
func TestServingRefusalsAtStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGRSnXbJcV2bW4nAMbr1ukBLSX0bbvHwKMiQFUYj6fq0 a@b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	token := map[string]string{"TRADETOP_CONTROL_TOKEN": "serve-test-token-0123456789"}
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		flag string
	}{
		{"listen reachable without a token", []string{"--listen", "0.0.0.0:0"}, nil, "-listen"},
		{"listen on all interfaces without a token", []string{"--listen", ":0"}, nil, "-listen"},
		{"a short token", []string{"--listen", "127.0.0.1:0"}, map[string]string{"TRADETOP_CONTROL_TOKEN": "short"}, "control token"},
		{"a token file without listen", []string{"--control-token-file", good}, nil, "-control-token-file"},
		{"insecure without listen", []string{"--listen-insecure"}, nil, "-listen-insecure"},
		{"a certificate without its key", []string{"--listen", "127.0.0.1:0", "--listen-tls-cert", good}, nil, "-listen-tls-cert"},
		{"a certificate that is not one", []string{"--listen", "127.0.0.1:0", "--listen-tls-cert", bad, "--listen-tls-key", bad}, nil, "-listen-tls-cert"},
		{"listen port taken", []string{"--listen", taken.Addr().String()}, token, "-listen"},
		{"ssh port taken", []string{"--ssh", taken.Addr().String(), "--ssh-authorized-keys", good}, nil, "-ssh"},
		{"ssh without keys", []string{"--ssh", "127.0.0.1:0"}, nil, "-ssh"},
		{"ssh keys without ssh", []string{"--ssh-authorized-keys", good}, nil, "-ssh-authorized-keys"},
		{"operators without ssh", []string{"--ssh-operators", good}, nil, "-ssh-operators"},
		{"ssh keys that are not keys", []string{"--ssh", "127.0.0.1:0", "--ssh-authorized-keys", bad}, nil, "-ssh-authorized-keys"},
		{"ssh operators that are not keys", []string{"--ssh", "127.0.0.1:0", "--ssh-authorized-keys", good, "--ssh-operators", bad}, nil, "-ssh-operators"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut e2e.Buffer
			args := append([]string{"--no-ui", "--duration", "2s", "--data-dir", filepath.Join(t.TempDir(), "data")}, c.args...)
			code := run(args, env(c.env), &out, &errOut)
			msg := errOut.String()
			if code != exitUsage || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "tradetop: ") || !strings.Contains(msg, c.flag) {
				t.Errorf("exit %d, stderr %q: want exit 2 and one line naming %s", code, msg, c.flag)
			}
			if strings.Contains(msg, "serve-test-token") {
				t.Errorf("the token is in the error: %q", msg)
			}
		})
	}
}
