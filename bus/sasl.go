package bus

import (
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL is how connections authenticate to the brokers: a SASL mechanism
// with the user and password it sends. SASLMechanism makes one; a nil *SASL
// means no authentication.
//
// It prints as its mechanism's name and user, never its password, so a
// Config may be logged.
type SASL struct {
	mech mechanism
}

// Name returns the mechanism's name as Kafka knows it: "PLAIN",
// "SCRAM-SHA-256" or "SCRAM-SHA-512".
func (s *SASL) Name() string { return s.mech.Name() }

// String returns the mechanism's name and user.
func (s *SASL) String() string { return s.mech.String() }

// GoString returns what String does, so that %#v hides the password too.
func (s *SASL) GoString() string { return s.mech.GoString() }

// kafka returns what kafka-go authenticates with: nil, not a nil *SASL in
// an interface, when s is nil.
func (s *SASL) kafka() sasl.Mechanism {
	if s == nil {
		return nil
	}
	return s.mech
}

// SASLMechanism returns the SASL mechanism called name that authenticates as
// user with password, for Config.SASL. The name is "plain",
// "scram-sha-256" or "scram-sha-512", in any case; "" and "none" mean no
// authentication and return nil.
func SASLMechanism(name, user, password string) (*SASL, error) {
	var algo scram.Algorithm
	switch strings.ToLower(name) {
	case "", "none":
		return nil, nil
	case "plain":
	case "scram-sha-256":
		algo = scram.SHA256
	case "scram-sha-512":
		algo = scram.SHA512
	default:
		return nil, fmt.Errorf("sasl mechanism %q: want none, plain, scram-sha-256 or scram-sha-512", name)
	}
	if user == "" {
		return nil, fmt.Errorf("sasl mechanism %s: no user given", strings.ToLower(name))
	}
	if algo == nil {
		return &SASL{mechanism{Mechanism: plain.Mechanism{Username: user, Password: password}, user: user}}, nil
	}
	m, err := scram.Mechanism(algo, user, password)
	if err != nil {
		// SCRAM normalises the user and the password with SASLprep, whose
		// error quotes the one it refuses: never pass it on, it may be the
		// password. Trying the user with a plain password tells which.
		if _, uerr := scram.Mechanism(algo, user, "password"); uerr != nil {
			return nil, fmt.Errorf("sasl mechanism %s: user %q holds a character SCRAM does not allow (SASLprep)", strings.ToLower(name), user)
		}
		return nil, fmt.Errorf("sasl mechanism %s: the password holds a character SCRAM does not allow (SASLprep)", strings.ToLower(name))
	}
	return &SASL{mechanism{Mechanism: m, user: user}}, nil
}

// mechanism is a kafka-go SASL mechanism that hides its password when
// printed, should kafka-go ever print it.
type mechanism struct {
	sasl.Mechanism
	user string
}

// String returns the mechanism's name and user.
func (m mechanism) String() string { return m.Name() + " as " + m.user }

// GoString returns what String does, so that %#v hides the password too.
func (m mechanism) GoString() string { return m.String() }
