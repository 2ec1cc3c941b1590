package postgres

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Config says how to reach PostgreSQL and where tradetop's tables live.
// The zero value of a field means its default; Defaults lists them.
type Config struct {
	// DSN names the server, database and user, as a postgres:// URL or
	// libpq key=value pairs; the PG* environment variables fill what it
	// leaves out, as with psql. It may not hold a password: passwords
	// never go on a command line. Required.
	DSN string
	// Password, when set, is the password to log in with. Default: the
	// one PGPASSWORD or the ~/.pgpass file gives, if any.
	Password string
	// Schema holds tradetop's tables and views; it is created when
	// missing. Default "public", so that psql finds them by their names.
	Schema string
	// ConnectTimeout bounds dialling and logging in. Default 5s.
	ConnectTimeout time.Duration
	// Timeout bounds one Write or one read, from its start to its last
	// row. Default 30s.
	Timeout time.Duration
	// MaxConns is the most connections open at once: one writes, the
	// others serve reads. Default 4.
	MaxConns int32
}

// Defaults returns the default configuration (without a DSN).
func Defaults() Config {
	return Config{
		Schema:         "public",
		ConnectTimeout: 5 * time.Second,
		Timeout:        30 * time.Second,
		MaxConns:       4,
	}
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := Defaults()
	c.Schema = cmp.Or(c.Schema, d.Schema)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, d.ConnectTimeout)
	c.Timeout = cmp.Or(c.Timeout, d.Timeout)
	c.MaxConns = cmp.Or(c.MaxConns, d.MaxConns)
	return c
}

// schemaName is what a schema tradetop creates may be called: a plain SQL
// identifier, so that it needs no quoting and reads the same in psql.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate reports why c cannot be used, or nil.
func (c Config) Validate() error {
	if err := ValidateDSN(c.DSN); err != nil {
		return err
	}
	switch {
	case c.Schema != "" && !schemaName.MatchString(c.Schema):
		return fmt.Errorf("postgres schema %q: want lower-case letters, digits and _, not starting with a digit, at most 63", c.Schema)
	case c.ConnectTimeout < 0:
		return fmt.Errorf("postgres connect timeout %s is negative", c.ConnectTimeout)
	case c.Timeout < 0:
		return fmt.Errorf("postgres timeout %s is negative", c.Timeout)
	case c.MaxConns < 0 || c.MaxConns == 1:
		return fmt.Errorf("postgres connections %d: want at least 2, one to write and one to read", c.MaxConns)
	}
	return nil
}

// errPasswordInDSN refuses a DSN that holds a password.
var errPasswordInDSN = errors.New("postgres DSN holds a password, which would show in the process list: leave it out and give it apart")

// kvPassword finds a password among libpq key=value pairs.
var kvPassword = regexp.MustCompile(`(^|\s)password\s*=`)

// ValidateDSN reports why dsn cannot name a server, or nil. A DSN holding a
// password is refused: it would show in the process list and the shell's
// history.
func ValidateDSN(dsn string) error {
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return errors.New("postgres DSN is empty")
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url's error quotes the DSN, which may hold a password.
			return errors.New("postgres DSN is not a valid URL")
		}
		if _, ok := u.User.Password(); ok {
			return errPasswordInDSN
		}
		if u.Query().Has("password") {
			return errPasswordInDSN
		}
		return nil
	}
	if !strings.Contains(dsn, "=") {
		return fmt.Errorf("postgres DSN %q: want a postgres:// URL or key=value pairs such as \"host=127.0.0.1 dbname=tradetop\"", dsn)
	}
	if kvPassword.MatchString(dsn) {
		return errPasswordInDSN
	}
	return nil
}
