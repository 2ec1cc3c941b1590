// Package datadir is tradetop's directory on this machine: where the
// embedded store, the embedded broker's log and the terminal UI's log live,
// and the lock that keeps a second process out of them.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The directory's contents.
const (
	// StoreFile is the embedded SQLite store.
	StoreFile = "tradetop.db"
	// BrokerDir holds the embedded broker's log and committed offsets.
	BrokerDir = "kafka"
	// LogFile is the terminal UI's log.
	LogFile = "tradetop.log"
	// SSHHostKey is --ssh's host key, made once and kept.
	SSHHostKey = "ssh_host_ed25519_key"
	// lockFile is locked by the process using the directory, and says who
	// that is.
	lockFile = "tradetop.lock"
)

// Lock is a process's hold on a data directory. The operating system lets
// go of it when the process ends, however it ends, so a kill -9 never
// leaves a stale lock.
type Lock struct {
	f *os.File
}

// InUseError says another process holds the directory.
type InUseError struct {
	Dir string
	// Holder describes the other process ("pid 4242, since
	// 2026-12-05T08:00:00Z"), or is empty when it could not be read.
	Holder string
}

func (e *InUseError) Error() string {
	who := "another tradetop"
	if e.Holder != "" {
		who += " (" + e.Holder + ")"
	}
	return fmt.Sprintf("the data directory %s is in use by %s; stop it, or give this one another --data-dir", strconv.Quote(e.Dir), who)
}

// Acquire creates dir if needed and takes its lock without waiting. It
// returns an *InUseError when another process holds it.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the data directory's lock: %w", err)
	}
	if err := lock(f); err != nil {
		defer f.Close()
		if errors.Is(err, errLocked) {
			return nil, &InUseError{Dir: dir, Holder: holder(f)}
		}
		return nil, fmt.Errorf("locking the data directory: %w", err)
	}
	// Say who holds it, for the next one to name.
	stamp := fmt.Sprintf("pid %d, since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(stamp), 0)
	}
	return &Lock{f: f}, nil
}

// holder reads who holds the lock, as the holder wrote it.
func holder(f *os.File) string {
	buf := make([]byte, 128)
	n, _ := f.ReadAt(buf, 0)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	for _, r := range line {
		if r < ' ' || r == 0x7f {
			return ""
		}
	}
	return line
}

// Release lets go of the lock. It is safe to call twice.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	return f.Close()
}
