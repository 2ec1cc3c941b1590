package alert

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tradetop/tradetop/monitor"
	"github.com/tradetop/tradetop/trade"
)

// Kind is what a rule watches.
type Kind string

// The kinds of rule; README's "Alerts" says exactly when each fires and
// re-arms.
const (
	// PriceAbove fires when a symbol's last price is above Level.
	PriceAbove Kind = "price_above"
	// PriceBelow fires when a symbol's last price is below Level.
	PriceBelow Kind = "price_below"
	// Move fires when a symbol's last price is Percent or more away from
	// its last price Window ago (in Direction).
	Move Kind = "move"
	// VolumeSpike fires when a symbol's volume over the last Window is
	// more than Ratio times its mean over the History windows before.
	VolumeSpike Kind = "volume_spike"
	// FeedSilent fires when no trade arrived for longer than For: from the
	// feed, or of Symbol.
	FeedSilent Kind = "feed_silent"
	// LagAbove fires when a partition's committed lag is above Lag.
	LagAbove Kind = "lag_above"
	// LagVerdict fires when the monitor judges a partition Verdict or
	// worse.
	LagVerdict Kind = "lag_verdict"
	// StageDown fires when the monitor judges Stage down.
	StageDown Kind = "stage_down"
)

// kindSpec is a Kind with the fields it takes besides name, kind and
// actions: those it needs, then those it may have.
type kindSpec struct {
	kind     Kind
	needs    []string
	optional []string
}

// kinds are every Kind, in the order the errors list them.
var kinds = []kindSpec{
	{PriceAbove, []string{"symbol", "level"}, []string{"hysteresis"}},
	{PriceBelow, []string{"symbol", "level"}, []string{"hysteresis"}},
	{Move, []string{"symbol", "percent", "window"}, []string{"direction", "hysteresis"}},
	{VolumeSpike, []string{"symbol", "ratio"}, []string{"window", "history", "hysteresis"}},
	{FeedSilent, []string{"for"}, []string{"symbol"}},
	{LagAbove, []string{"lag"}, []string{"partition", "hysteresis"}},
	{LagVerdict, nil, []string{"verdict", "partition"}},
	{StageDown, []string{"stage"}, nil},
}

// Defaults of the optional fields.
const (
	// DefaultHysteresis is how far, as a fraction of its level, a rule
	// with a level must fall back before it re-arms.
	DefaultHysteresis = 0.01
	// DefaultVolumeWindow and DefaultVolumeHistory are a volume_spike
	// rule's window and how many windows before it make its average.
	DefaultVolumeWindow  = time.Minute
	DefaultVolumeHistory = 10
	// DefaultVerdict is the verdict a lag_verdict rule fires at.
	DefaultVerdict = monitor.Stall
	// DefaultTimeout and DefaultRetries bound each run of an action.
	DefaultTimeout = 10 * time.Second
	DefaultRetries = 3
)

// Limits of the values a rules file may give.
const (
	maxSpan    = 24 * time.Hour // window × (history + 1), and for
	maxTimeout = 5 * time.Minute
	maxRetries = 10
	maxName    = 64
	maxFile    = 1 << 20
	maxQuoted  = 40
)

// Rule is one rule of a rules file. Which fields a rule takes depends on
// its Kind; the others are refused.
type Rule struct {
	// Name names the rule in the log, the events, the metrics and the
	// actions: letters, digits, '.', '_' and '-', unique in the file.
	Name string `yaml:"name"`
	Kind Kind   `yaml:"kind"`
	// Symbol is the symbol watched.
	Symbol string `yaml:"symbol"`
	// Level is the price of price_above and price_below.
	Level float64 `yaml:"level"`
	// Percent and Window are the move of a move rule: Percent or more
	// within Window. Direction is up, down or any (the default).
	Percent   float64       `yaml:"percent"`
	Window    time.Duration `yaml:"window"`
	Direction string        `yaml:"direction"`
	// Ratio is how many times its average a volume_spike rule's window
	// must hold; History is how many windows make the average.
	Ratio   float64 `yaml:"ratio"`
	History int     `yaml:"history"`
	// For is how long a feed_silent rule waits for a trade.
	For time.Duration `yaml:"for"`
	// Lag is lag_above's number of messages; Partition, when set, limits
	// lag_above and lag_verdict to one partition.
	Lag       int64 `yaml:"lag"`
	Partition int   `yaml:"partition"`
	// Verdict is what lag_verdict fires at: WARN, STALL or STOP, or
	// worse. Default STALL.
	Verdict string `yaml:"verdict"`
	// Stage is the stage_down rule's stage: feed, kafka, agg or store.
	Stage string `yaml:"stage"`
	// Hysteresis is the fraction of the level a rule with one must fall
	// back past before it re-arms. Default DefaultHysteresis.
	Hysteresis float64 `yaml:"hysteresis"`
	// Actions run each time the rule fires.
	Actions []Action `yaml:"actions"`

	line         int
	hasPartition bool
	verdict      monitor.Verdict
	stage        int
}

// Action is what runs when a rule fires: a command or a webhook.
type Action struct {
	// Exec is a command and its arguments, run without a shell.
	Exec []string `yaml:"exec"`
	// Webhook is an http or https URL the alert is POSTed to as JSON.
	Webhook string `yaml:"webhook"`
	// Timeout bounds each try. Default DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many more tries a failed action gets. Default
	// DefaultRetries.
	Retries int `yaml:"retries"`
}

// file is a rules file.
type file struct {
	Rules []Rule `yaml:"rules"`
}

// want says what each field's value must be, for errors.
var want = map[string]string{
	"name": "a name", "kind": "a kind", "symbol": "a symbol", "level": "a number",
	"percent": "a number", "window": "a duration such as 30s or 5m", "direction": "up, down or any",
	"ratio": "a number", "history": "a whole number", "for": "a duration such as 30s or 5m",
	"lag": "a whole number", "partition": "a whole number", "verdict": "WARN, STALL or STOP",
	"stage": "feed, kafka, agg or store", "hysteresis": "a number", "actions": "a list of actions",
	"rules": "a list of rules", "exec": "a list of strings: the command and its arguments", "webhook": "a URL",
	"timeout": "a duration such as 10s", "retries": "a whole number",
}

// Load reads the rules file at path. Every error is one line that names
// the file, and the rule and the field at fault where there are.
func Load(path string) ([]Rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rules, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rules, nil
}

// Parse reads rules in YAML from r: a mapping whose one key, rules, holds
// a list of rules. Unknown fields are refused.
func Parse(r io.Reader) (rules []Rule, err error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("rules file larger than %d KiB", maxFile>>10)
	}
	// The YAML parser is third-party code: a panic in it is bad input,
	// not a crash.
	defer func() {
		if p := recover(); p != nil {
			rules, err = nil, fmt.Errorf("cannot parse: %s", trade.Excerpt(fmt.Sprint(p), 200))
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, errors.New(oneLine(trade.Excerpt(err.Error(), 200)))
	}
	list, err := ruleNodes(&doc)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, locate(err, &doc, list)
	}
	names := map[string]int{}
	for i := range f.Rules {
		r := &f.Rules[i]
		n := list[i]
		r.line = n.Line
		if err := r.check(keys(n)); err != nil {
			return nil, fmt.Errorf("%s: %w", r.label(i), err)
		}
		if j, ok := names[r.Name]; ok {
			return nil, fmt.Errorf("%s: field name: %q is the name of rule %d too (line %d)", r.label(i), r.Name, j+1, f.Rules[j].line)
		}
		names[r.Name] = i
	}
	return f.Rules, nil
}

// label names rule i for errors: by its name when it has one.
func (r *Rule) label(i int) string {
	if validName(r.Name) {
		return fmt.Sprintf("rule %q (line %d)", r.Name, r.line)
	}
	return fmt.Sprintf("rule %d (line %d)", i+1, r.line)
}

// ruleNodes checks the document's shape, a mapping whose rules are a list
// of mappings whose actions are a list of mappings, and returns the nodes
// of the rules.
func ruleNodes(doc *yaml.Node) ([]*yaml.Node, error) {
	top := doc
	if top.Kind == yaml.DocumentNode && len(top.Content) > 0 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		if top.Kind == 0 || top.Kind == yaml.DocumentNode || top.Tag == "!!null" {
			return nil, errors.New("no rules: want a list of rules under rules:")
		}
		return nil, fmt.Errorf("line %d: want a mapping with rules: a list of rules, not %s", top.Line, describe(top))
	}
	list := keys(top)["rules"]
	switch {
	case list == nil:
		// An unknown key, if there is one, is the better error.
		return nil, nil
	case list.Kind != yaml.SequenceNode:
		return nil, fmt.Errorf("line %d: field rules: want a list of rules, not %s", list.Line, describe(list))
	case len(list.Content) == 0:
		return nil, errors.New("no rules: want a list of rules under rules:")
	}
	for i, n := range list.Content {
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("rule %d (line %d): want a rule (name, kind and its fields), not %s", i+1, n.Line, describe(n))
		}
		actions := keys(n)["actions"]
		if actions == nil {
			continue
		}
		r := Rule{line: n.Line}
		if name := keys(n)["name"]; name != nil {
			r.Name = name.Value
		}
		if actions.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%s: field actions: want a list of actions, not %s", r.label(i), describe(actions))
		}
		for j, a := range actions.Content {
			if a.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("%s: field actions[%d]: want an action (exec or webhook), not %s", r.label(i), j+1, describe(a))
			}
		}
	}
	return list.Content, nil
}

// keys returns the keys of mapping n with their value nodes.
func keys(n *yaml.Node) map[string]*yaml.Node {
	m := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		return m
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		m[n.Content[i].Value] = n.Content[i+1]
	}
	return m
}

// ruleFields are the fields a rule may have, of any kind; actionFields
// those of an action.
var (
	ruleFields   = []string{"name", "kind", "actions"}
	actionFields = []string{"exec", "webhook", "timeout", "retries"}
)

func init() {
	for _, k := range kinds {
		for _, f := range slices.Concat(k.needs, k.optional) {
			if !slices.Contains(ruleFields, f) {
				ruleFields = append(ruleFields, f)
			}
		}
	}
}

// locate turns the decoder's first error into one line that names the
// rule and the field at its line. Only the line is read from the
// decoder's message; the rest is found in the document.
func locate(err error, doc *yaml.Node, list []*yaml.Node) error {
	te, ok := errors.AsType[*yaml.TypeError](err)
	if !ok || len(te.Errors) == 0 {
		if errors.Is(err, io.EOF) {
			return errors.New("no rules: want a list of rules under rules:")
		}
		return errors.New(oneLine(trade.Excerpt(strings.TrimPrefix(err.Error(), "yaml: "), 200)))
	}
	msg := te.Errors[0]
	var line int
	if _, err := fmt.Sscanf(msg, "line %d:", &line); err != nil {
		return errors.New(oneLine(trade.Excerpt(msg, 200)))
	}
	// The rule the line is in: the last one starting at or before it.
	i := -1
	for j, n := range list {
		if n.Line <= line {
			i = j
		}
	}
	if i < 0 {
		// Before every rule: the top level.
		f, ok := pick(fieldsAt(doc, line, ""))
		if !ok {
			return fmt.Errorf("line %d: %s", line, oneLine(trade.Excerpt(msg, 200)))
		}
		return fmt.Errorf("line %d: %s", line, f.problem([]string{"rules"}))
	}
	r := Rule{line: list[i].Line}
	if name := keys(list[i])["name"]; name != nil {
		r.Name = name.Value
	}
	f, ok := pick(fieldsAt(list[i], line, ""))
	if !ok {
		return fmt.Errorf("%s: line %d: %s", r.label(i), line, oneLine(trade.Excerpt(msg, 200)))
	}
	known := f.known()
	if k := keys(list[i])["kind"]; !f.action && k != nil {
		// The fields of the rule's kind say more than every field there is.
		if j := slices.IndexFunc(kinds, func(s kindSpec) bool { return string(s.kind) == k.Value }); j >= 0 {
			known = slices.Concat([]string{"name", "kind"}, kinds[j].needs, kinds[j].optional, []string{"actions"})
		}
	}
	return fmt.Errorf("%s: %s", r.label(i), f.problem(known))
}

// field is a key of a mapping in the document and its value.
type field struct {
	path       string // actions[2].timeout
	name       string // timeout
	action     bool   // a field of an action, not of a rule
	parent     *yaml.Node
	key, value *yaml.Node
}

// fieldsAt returns the keys in n at line, or whose value is at it, the
// innermost first: a flow mapping has them all on one line.
func fieldsAt(n *yaml.Node, line int, prefix string) []field {
	var out []field
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = append(out, fieldsAt(c, line, prefix)...)
		}
	case yaml.MappingNode:
		var here []field
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			out = append(out, fieldsAt(v, line, prefix+k.Value)...)
			if k.Line == line || v.Line == line {
				here = append(here, field{path: prefix + k.Value, name: k.Value, action: strings.HasPrefix(prefix, "actions["),
					parent: n, key: k, value: v})
			}
		}
		out = append(out, here...)
	case yaml.SequenceNode:
		for j, c := range n.Content {
			out = append(out, fieldsAt(c, line, prefix+"["+strconv.Itoa(j+1)+"].")...)
		}
	}
	return out
}

// pick chooses among the fields on an error's line the one at fault: one
// unknown, else one given twice, else one whose value is not of its type.
func pick(fields []field) (field, bool) {
	for _, f := range fields {
		if !slices.Contains(f.known(), f.name) {
			return f, true
		}
	}
	for _, f := range fields {
		if f.times() > 1 {
			return f, true
		}
	}
	for _, f := range fields {
		if !f.decodes() {
			return f, true
		}
	}
	if len(fields) > 0 {
		return fields[0], true
	}
	return field{}, false
}

// known are the fields the field's mapping may have.
func (f field) known() []string {
	if f.action {
		return actionFields
	}
	return ruleFields
}

// times is how often the field's key is in its mapping.
func (f field) times() int {
	n := 0
	for i := 0; i+1 < len(f.parent.Content); i += 2 {
		if f.parent.Content[i].Value == f.name {
			n++
		}
	}
	return n
}

// decodes says whether the field's value decodes into the field of Rule
// or Action that its key names.
func (f field) decodes() bool {
	t := reflect.TypeFor[Rule]()
	if f.action {
		t = reflect.TypeFor[Action]()
	}
	for i := range t.NumField() {
		if sf := t.Field(i); sf.Tag.Get("yaml") == f.name {
			return f.value.Decode(reflect.New(sf.Type).Interface()) == nil
		}
	}
	return true
}

// problem says what is wrong with the field, of a mapping whose fields may
// be known: it is unknown, given twice, or its value is not what it wants.
func (f field) problem(known []string) string {
	if !slices.Contains(known, f.name) {
		return fmt.Sprintf("unknown field %q (known: %s)", trade.Excerpt(f.path, maxQuoted), strings.Join(known, ", "))
	}
	if n := f.times(); n > 1 {
		return fmt.Sprintf("field %s is given %d times", f.path, n)
	}
	return fmt.Sprintf("field %s: want %s, not %s", f.path, want[f.name], describe(f.value))
}

// describe names a node's value for errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return strconv.Quote(trade.Excerpt(n.Value, maxQuoted))
}

// check validates a decoded rule whose fields were set, and fills in
// its defaults.
func (r *Rule) check(set map[string]*yaml.Node) error {
	if _, ok := set["name"]; !ok || r.Name == "" {
		return errors.New("field name: every rule needs a name")
	}
	if !validName(r.Name) {
		return fmt.Errorf("field name: %q: want at most %d letters, digits, '.', '_' or '-'", trade.Excerpt(r.Name, maxQuoted), maxName)
	}
	i := slices.IndexFunc(kinds, func(k kindSpec) bool { return k.kind == r.Kind })
	if i < 0 {
		names := make([]string, len(kinds))
		for j, k := range kinds {
			names[j] = string(k.kind)
		}
		if r.Kind == "" {
			return fmt.Errorf("field kind: every rule needs a kind: %s", strings.Join(names, ", "))
		}
		return fmt.Errorf("field kind: unknown kind %q: want %s", trade.Excerpt(string(r.Kind), maxQuoted), strings.Join(names, ", "))
	}
	k := kinds[i]
	takes := slices.Concat(k.needs, k.optional)
	for name := range set {
		if name != "name" && name != "kind" && name != "actions" && !slices.Contains(takes, name) {
			return fmt.Errorf("field %s does not apply to kind %s, which takes %s", name, r.Kind, strings.Join(takes, ", "))
		}
	}
	for _, name := range k.needs {
		if _, ok := set[name]; !ok {
			return fmt.Errorf("field %s is missing: kind %s needs %s", name, r.Kind, strings.Join(k.needs, " and "))
		}
	}
	_, hasHysteresis := set["hysteresis"]
	if !hasHysteresis {
		r.Hysteresis = DefaultHysteresis
	}
	if _, ok := set["window"]; !ok && r.Kind == VolumeSpike {
		r.Window = DefaultVolumeWindow
	}
	if _, ok := set["history"]; !ok {
		r.History = DefaultVolumeHistory
	}
	_, r.hasPartition = set["partition"]
	checks := []struct {
		bad   bool
		field string
		want  string
	}{
		{slices.Contains(takes, "symbol") && !validSymbol(r.Symbol), "symbol", "want a symbol such as AAPL or BINANCE:BTCUSDT"},
		{!(r.Level > 0) || math.IsInf(r.Level, 0), "level", "want a price above 0"},
		{!(r.Percent > 0 && r.Percent <= 1000), "percent", "want a number above 0 and at most 1000"},
		{r.Window <= 0 || r.Window > maxSpan, "window", "want a duration above 0 and at most 24h"},
		{!slices.Contains([]string{"", "up", "down", "any"}, r.Direction), "direction", "want up, down or any"},
		{!(r.Ratio > 1) || math.IsInf(r.Ratio, 0), "ratio", "want a number above 1"},
		{r.History < 1 || r.History > 1000, "history", "want a whole number from 1 to 1000"},
		{r.For <= 0 || r.For > maxSpan, "for", "want a duration above 0 and at most 24h"},
		{r.Lag < 0, "lag", "want a number of messages, 0 or more"},
		{r.Partition < 0, "partition", "want a partition number, 0 or more"},
		{!(r.Hysteresis >= 0 && r.Hysteresis < 1), "hysteresis", "want a fraction of the level from 0 to below 1, such as 0.01"},
	}
	for _, c := range checks {
		if _, ok := set[c.field]; ok && c.bad {
			return fmt.Errorf("field %s: %s", c.field, c.want)
		}
	}
	if r.Kind == VolumeSpike && r.Window*time.Duration(r.History+1) > maxSpan {
		return fmt.Errorf("field history: the window (%s) times history + 1 (%d) must be at most 24h", r.Window, r.History+1)
	}
	if r.Direction == "" {
		r.Direction = "any"
	}
	r.verdict = DefaultVerdict
	if _, ok := set["verdict"]; ok {
		v, ok := parseVerdict(r.Verdict)
		if !ok {
			return fmt.Errorf("field verdict: %q: want WARN, STALL or STOP (this verdict or worse)", trade.Excerpt(r.Verdict, maxQuoted))
		}
		r.verdict = v
	}
	r.Verdict = r.verdict.String()
	if r.Kind == StageDown {
		r.stage = slices.Index(monitor.StageNames[:], r.Stage)
		if r.stage < 0 {
			return fmt.Errorf("field stage: %q: want %s", trade.Excerpt(r.Stage, maxQuoted), strings.Join(monitor.StageNames[:], ", "))
		}
	}
	node := set["actions"]
	for j := range r.Actions {
		var an *yaml.Node
		if node != nil && j < len(node.Content) {
			an = node.Content[j]
		}
		if err := r.Actions[j].check(an); err != nil {
			return fmt.Errorf("field actions[%d].%w", j+1, err)
		}
	}
	return nil
}

// check validates a decoded action whose node is n, and fills in its
// defaults. Its errors start with the field's name.
func (a *Action) check(n *yaml.Node) error {
	set := map[string]*yaml.Node{}
	if n != nil {
		set = keys(n)
	}
	_, hasExec := set["exec"]
	_, hasHook := set["webhook"]
	switch {
	case hasExec == hasHook:
		return errors.New("exec: want exactly one of exec (a command) and webhook (a URL)")
	case hasExec && (len(a.Exec) == 0 || a.Exec[0] == ""):
		return errors.New("exec: want the command and its arguments, such as [notify-send, tradetop]")
	case hasExec:
		if _, err := exec.LookPath(a.Exec[0]); err != nil {
			if e, ok := errors.AsType[*exec.Error](err); ok {
				err = e.Err
			}
			return fmt.Errorf("exec: %q: %s", trade.Excerpt(a.Exec[0], maxQuoted), oneLine(err.Error()))
		}
	case hasHook:
		u, err := url.Parse(a.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("webhook: %q: want an http or https URL", trade.Excerpt(a.Webhook, maxQuoted))
		}
	}
	if _, ok := set["timeout"]; !ok {
		a.Timeout = DefaultTimeout
	} else if a.Timeout <= 0 || a.Timeout > maxTimeout {
		return errors.New("timeout: want a duration above 0 and at most 5m")
	}
	if _, ok := set["retries"]; !ok {
		a.Retries = DefaultRetries
	} else if a.Retries < 0 || a.Retries > maxRetries {
		return fmt.Errorf("retries: want a whole number from 0 to %d", maxRetries)
	}
	return nil
}

// parseVerdict reads WARN, STALL or STOP, in any case.
func parseVerdict(s string) (monitor.Verdict, bool) {
	for _, v := range []monitor.Verdict{monitor.Warn, monitor.Stall, monitor.Stop} {
		if strings.EqualFold(s, v.String()) {
			return v, true
		}
	}
	return 0, false
}

func validName(s string) bool {
	if s == "" || len(s) > maxName {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validSymbol is a symbol as trades carry it: printable, no spaces.
func validSymbol(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// oneLine joins the lines of a message.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
