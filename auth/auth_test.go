package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradetop/tradetop/auth/authtest"
)

func TestPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "PW" {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		env     string
		file    string
		want    string
		wantErr string
	}{
		{name: "none", want: ""},
		{name: "env", env: "s3cret", want: "s3cret"},
		{name: "file", file: write("pw", "from file\n"), want: "from file"},
		{name: "file crlf and more lines", file: write("crlf", "pw\r\nignored\n"), want: "pw"},
		{name: "file without newline", file: write("bare", "bare"), want: "bare"},
		{name: "both", env: "x", file: write("both", "y"), wantErr: "both PW and a password file"},
		{name: "missing file", file: filepath.Join(dir, "absent"), wantErr: "reading password file"},
		{name: "empty file", file: write("empty", "\n"), wantErr: "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Password(env(tt.env), "PW", tt.file)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Password = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key := authtest.New(t).WriteFiles(t, dir)
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}

	if c, err := (TLS{}).Config(); c != nil || err != nil {
		t.Fatalf("zero TLS = %v, %v; want nil, nil", c, err)
	}
	c, err := TLS{CAFile: cert, CertFile: cert, KeyFile: key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if c.RootCAs == nil || len(c.Certificates) != 1 || c.InsecureSkipVerify {
		t.Fatalf("config = %+v", c)
	}
	if c, err := (TLS{Enable: true}).Config(); err != nil || c == nil || c.RootCAs != nil {
		t.Fatalf("Enable alone = %+v, %v; want system roots", c, err)
	}

	bad := []struct {
		name    string
		tls     TLS
		wantErr string
	}{
		{"missing CA", TLS{CAFile: filepath.Join(dir, "absent")}, "reading CA file"},
		{"CA not PEM", TLS{CAFile: junk}, "holds no PEM certificate"},
		{"cert without key", TLS{CertFile: cert}, "needs its key file"},
		{"key without cert", TLS{KeyFile: key}, "needs its certificate file"},
		{"bad pair", TLS{CertFile: cert, KeyFile: junk}, "loading client certificate"},
		{"missing CA, a line break in its name", TLS{CAFile: filepath.Join(dir, "ab\nsent")}, `ab\nsent": open: no such file`},
		{"missing cert, a line break in its name", TLS{CertFile: filepath.Join(dir, "c\r\nert"), KeyFile: key}, `c\r\nert": open: no such file`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.tls.Config()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("err %q is more than one line", err)
			}
		})
	}
}
