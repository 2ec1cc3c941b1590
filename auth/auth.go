// Package auth loads what tradetop needs to reach secured clusters: TLS
// settings from certificate files, and passwords, which come from the
// environment or a file and never from a command-line value that ps shows.
package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// TLS says how to secure a connection. The zero value means plain TCP.
type TLS struct {
	// Enable turns TLS on with the system's roots. Any file below turns it
	// on too.
	Enable bool
	// CAFile is a PEM bundle of the authorities that sign the servers'
	// certificates. Default: the system's roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// servers that ask for one. Both or neither.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool
}

// Enabled reports whether t asks for TLS.
func (t TLS) Enabled() bool {
	return t.Enable || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify
}

// Config returns the TLS configuration t describes, or nil when t asks for
// none. Every error names the file it is about.
func (t TLS) Config() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fileError("reading CA file", t.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %q holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fileError("loading client certificate", t.CertFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case t.CertFile != "":
		return nil, errors.New("a client certificate needs its key file too")
	case t.KeyFile != "":
		return nil, errors.New("a client key needs its certificate file too")
	}
	return c, nil
}

// Password returns the password held in the environment variable env, or
// in file (its first line, without the line end). It returns "" when neither
// is set, and an error when both are or the file cannot be read.
func Password(getenv func(string) string, env, file string) (string, error) {
	v := getenv(env)
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("both %s and a password file are set; use one", env)
	case file == "":
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fileError("reading password file", file, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("password file %q is empty", file)
	}
	return line, nil
}

// fileError is err, about doing what to the file name, on one line: the
// name is quoted (a name may hold a line break), also where err names a
// file of its own (an *fs.PathError, as os.ReadFile returns).
func fileError(what, name string, err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("%s %q: %s: %w", what, pe.Path, pe.Op, pe.Err)
	}
	return fmt.Errorf("%s %q: %w", what, name, err)
}
