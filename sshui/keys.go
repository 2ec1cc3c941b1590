package sshui

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// keySet is the public keys of an authorized_keys file, by their wire form.
type keySet map[string]bool

func (k keySet) has(key gossh.PublicKey) bool {
	return key != nil && k[string(key.Marshal())]
}

// readKeys reads an OpenSSH authorized_keys file: one public key a line,
// blank lines and # comments allowed. what names the file in errors, which
// are one line each. A line with options (from=, command=, restrict, …) is
// an error rather than a key taken without them: the server does not
// enforce them, and taking the key would let it in wider than the file
// says.
func readKeys(what, path string) (keySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, oneLine(err))
	}
	keys := keySet{}
	for n, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		key, _, opts, _, err := gossh.ParseAuthorizedKey(line)
		switch {
		case err != nil && bytes.Contains(line, []byte("PRIVATE KEY")):
			return nil, fmt.Errorf("%s %s: line %d is part of a private key; give the public one (.pub)", what, path, n+1)
		case err != nil:
			return nil, fmt.Errorf("%s %s: line %d is not a public key", what, path, n+1)
		case len(opts) > 0:
			return nil, fmt.Errorf("%s %s: line %d has options (%s), which tradetop does not enforce; list the bare key", what, path, n+1, strings.Join(opts, ","))
		}
		keys[string(key.Marshal())] = true
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s %s: no public key in it", what, path)
	}
	return keys, nil
}

// hostKey reads the server's private host key at path, or, when there is
// no file there, makes an ed25519 key and keeps it there (mode 0600), so
// that clients that trusted it once keep trusting it. The file appears
// whole or not at all: it is written aside and linked into place, and a
// key another process put there first wins.
func hostKey(path string) (gossh.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := makeHostKey(path); err != nil {
			return nil, fmt.Errorf("ssh host key %s: making it: %w", path, oneLine(err))
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh host key: %w", oneLine(err))
	}
	signer, err := gossh.ParsePrivateKey(b)
	var encrypted *gossh.PassphraseMissingError
	switch {
	case errors.As(err, &encrypted):
		return nil, fmt.Errorf("ssh host key %s: it is encrypted; tradetop needs it without a passphrase", path)
	case err != nil:
		return nil, fmt.Errorf("ssh host key %s: not a private key: %w", path, oneLine(err))
	}
	return signer, nil
}

func makeHostKey(path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := gossh.MarshalPrivateKey(priv, "tradetop host key")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(pem.EncodeToMemory(block))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	switch err := os.Link(tmp.Name(), path); {
	case err == nil, errors.Is(err, fs.ErrExist):
		return nil
	default:
		// A file system without hard links: put it in place anyway.
		return os.Rename(tmp.Name(), path)
	}
}

// oneLine is err's message on one line.
func oneLine(err error) error {
	msg := err.Error()
	if !strings.ContainsAny(msg, "\r\n") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(msg), " "))
}
