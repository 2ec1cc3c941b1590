package schema

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hamba/avro/v2/registry"
)

// RegistryClient talks to a schema registry with the Confluent API (the
// Confluent Schema Registry, Apicurio's ccompat API, Karapace, Redpanda).
// Any goroutine may call its methods.
type RegistryClient struct {
	url     string
	c       *registry.Client
	timeout time.Duration
}

// NewRegistry returns a client of the registry at rawURL, an http or https
// URL (for Apicurio, its /apis/ccompat/v7 path). Each request is bounded
// by timeout.
func NewRegistry(rawURL string, timeout time.Duration) (*RegistryClient, error) {
	if err := ValidateRegistryURL(rawURL); err != nil {
		return nil, err
	}
	c, err := registry.NewClient(rawURL, registry.WithHTTPClient(&http.Client{Timeout: timeout}))
	if err != nil {
		return nil, fmt.Errorf("schema registry %s: %w", rawURL, err)
	}
	return &RegistryClient{url: rawURL, c: c, timeout: timeout}, nil
}

// ValidateRegistryURL reports why rawURL cannot name a schema registry, or
// nil.
func ValidateRegistryURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return fmt.Errorf("schema registry URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("schema registry URL %q: want http:// or https://", rawURL)
	case u.Host == "":
		return fmt.Errorf("schema registry URL %q: no host", rawURL)
	case u.User != nil:
		return fmt.Errorf("schema registry URL holds credentials, which would show in the process list")
	}
	return nil
}

// Subject is the registry subject of a topic's message values, as
// Confluent's TopicNameStrategy names it.
func Subject(topic string) string { return topic + "-value" }

// Register registers trade.avsc under subject, or finds it registered
// there, and returns its id. A registry that refuses it (a schema
// incompatible with the subject's latest under its compatibility rule) is
// one error saying so, with the registry's reason.
func (r *RegistryClient) Register(ctx context.Context, subject string) (uint32, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	id, _, err := r.c.CreateSchema(ctx, subject, Text)
	var re registry.Error
	switch {
	case errors.As(err, &re) && re.StatusCode == http.StatusConflict:
		return 0, fmt.Errorf("schema registry %s refused trade.avsc for subject %s as incompatible with its latest version: %s", r.url, subject, re.Message)
	case errors.As(err, &re) && re.StatusCode < 500:
		return 0, fmt.Errorf("schema registry %s refused trade.avsc for subject %s: %s (HTTP %d)", r.url, subject, re.Message, re.StatusCode)
	case err != nil:
		return 0, fmt.Errorf("registering trade.avsc for subject %s at schema registry %s: %w", subject, r.url, err)
	case id <= 0 || id > 1<<31-1:
		return 0, fmt.Errorf("schema registry %s gave trade.avsc the id %d", r.url, id)
	}
	return uint32(id), nil
}

// Schema returns the schema registered with id, as JSON. An error from a
// registry that could not be reached or failed wraps ErrUnavailable.
func (r *RegistryClient) Schema(id uint32) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	s, err := r.c.GetSchema(ctx, int(id))
	var re registry.Error
	switch {
	case errors.As(err, &re) && re.StatusCode < 500:
		return "", fmt.Errorf("no such schema (%s, HTTP %d)", re.Message, re.StatusCode)
	case errors.As(err, &re):
		return "", fmt.Errorf("%w: %s: %s (HTTP %d)", ErrUnavailable, r.url, re.Message, re.StatusCode)
	case err != nil && ctx.Err() == nil && isParseError(err):
		return "", fmt.Errorf("not an Avro schema: %v", err)
	case err != nil:
		return "", fmt.Errorf("%w: %s: %v", ErrUnavailable, r.url, err)
	}
	return s.String(), nil
}

// isParseError tells a schema the client could not parse from a failed
// request: the request errors are *url.Error.
func isParseError(err error) bool {
	var ue *url.Error
	return !errors.As(err, &ue)
}
