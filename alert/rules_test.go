package alert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tradetop/tradetop/monitor"
)

// The example README points to is a valid file, every kind in it.
func TestTheExampleLoads(t *testing.T) {
	rules, err := Load(filepath.Join("..", "deploy", "alerts.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Kind]bool{}
	for _, r := range rules {
		seen[r.Kind] = true
	}
	for _, k := range kinds {
		if !seen[k.kind] {
			t.Errorf("the example has no %s rule", k.kind)
		}
	}
}

func TestRulesTakeTheirDefaults(t *testing.T) {
	rules, err := Parse(strings.NewReader(`
rules:
  - {name: p, kind: price_above, symbol: AAPL, level: 200}
  - {name: h, kind: price_below, symbol: AAPL, level: 100, hysteresis: 0}
  - {name: v, kind: volume_spike, symbol: AAPL, ratio: 3}
  - {name: s, kind: lag_verdict}
  - {name: w, kind: lag_verdict, verdict: warn, partition: 0}
  - name: a
    kind: stage_down
    stage: store
    actions:
      - webhook: https://example.com/hook
      - {exec: [sh, -c, "true"], timeout: 2s, retries: 0}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, h, v, s, w, a := rules[0], rules[1], rules[2], rules[3], rules[4], rules[5]
	if p.Hysteresis != DefaultHysteresis || h.Hysteresis != 0 {
		t.Errorf("hysteresis %v and %v, want the default %v and the 0 given", p.Hysteresis, h.Hysteresis, DefaultHysteresis)
	}
	if v.Window != DefaultVolumeWindow || v.History != DefaultVolumeHistory {
		t.Errorf("volume window %v history %d, want %v and %d", v.Window, v.History, DefaultVolumeWindow, DefaultVolumeHistory)
	}
	if s.verdict != monitor.Stall || s.hasPartition || w.verdict != monitor.Warn || !w.hasPartition || w.Partition != 0 {
		t.Errorf("verdicts %v (partition %v) and %v (partition %v %d), want STALL on all and WARN on 0",
			s.verdict, s.hasPartition, w.verdict, w.hasPartition, w.Partition)
	}
	if a.stage != 3 {
		t.Errorf("stage %d, want 3 (store)", a.stage)
	}
	if got := a.Actions[0]; got.Timeout != DefaultTimeout || got.Retries != DefaultRetries {
		t.Errorf("webhook timeout %v retries %d, want the defaults", got.Timeout, got.Retries)
	}
	if got := a.Actions[1]; got.Timeout != 2*time.Second || got.Retries != 0 {
		t.Errorf("exec timeout %v retries %d, want 2s and 0", got.Timeout, got.Retries)
	}
}

// A bad file is one line that names the rule and the field at fault.
func TestBadRulesSayWhichRuleAndField(t *testing.T) {
	const ok = "  - {name: fine, kind: price_above, symbol: AAPL, level: 1}\n"
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", ok + "  - name: aapl\n    kind: price_above\n    symbol: AAPL\n    lvl: 200\n",
			[]string{`rule "aapl" (line 3)`, `unknown field "lvl"`}},
		{"not a number", ok + "  - name: aapl\n    kind: price_above\n    symbol: AAPL\n    level: high\n",
			[]string{`rule "aapl" (line 3)`, `field level: want a number, not "high"`}},
		{"a duration without its unit", "rules:\n  - {name: m, kind: move, symbol: AAPL, percent: 2, window: 5}\n",
			[]string{`rule "m" (line 2)`, "field window: want a duration"}},
		{"a field twice", "rules:\n  - name: x\n    kind: lag_above\n    lag: 1\n    lag: 2\n",
			[]string{`rule "x" (line 2)`, "field lag is given 2 times"}},
		{"a field of another kind", "rules:\n  - {name: x, kind: price_above, symbol: AAPL, level: 1, window: 5m}\n",
			[]string{`rule "x" (line 2)`, "field window does not apply to kind price_above"}},
		{"a field missing", "rules:\n  - {name: x, kind: price_below, symbol: AAPL}\n",
			[]string{`rule "x" (line 2)`, "field level is missing"}},
		{"unknown kind", "rules:\n  - {name: x, kind: price_crosses}\n",
			[]string{`rule "x" (line 2)`, `field kind: unknown kind "price_crosses"`}},
		{"no kind", "rules:\n  - {name: x}\n", []string{`rule "x" (line 2)`, "field kind: every rule needs a kind"}},
		{"no name", "rules:\n  - {kind: stage_down, stage: store}\n", []string{"rule 1 (line 2)", "field name"}},
		{"a bad name", "rules:\n  - {name: a b, kind: stage_down, stage: store}\n", []string{"rule 1 (line 2)", "field name"}},
		{"a name twice", ok + ok, []string{`rule "fine" (line 3)`, "field name", "rule 1 too (line 2)"}},
		{"unknown stage", "rules:\n  - {name: x, kind: stage_down, stage: disk}\n", []string{`rule "x"`, `field stage: "disk"`}},
		{"unknown verdict", "rules:\n  - {name: x, kind: lag_verdict, verdict: late}\n", []string{`rule "x"`, `field verdict: "late"`}},
		{"a hysteresis of one", "rules:\n  - {name: x, kind: lag_above, lag: 5, hysteresis: 1}\n", []string{`rule "x"`, "field hysteresis"}},
		{"a ratio of one", "rules:\n  - {name: x, kind: volume_spike, symbol: A, ratio: 1}\n", []string{`rule "x"`, "field ratio"}},
		{"history too long", "rules:\n  - {name: x, kind: volume_spike, symbol: A, ratio: 2, window: 1h, history: 24}\n", []string{`rule "x"`, "field history"}},
		{"a symbol with a space", "rules:\n  - {name: x, kind: move, symbol: A B, percent: 1, window: 1m}\n", []string{`rule "x"`, "field symbol"}},
		{"a negative partition", "rules:\n  - {name: x, kind: lag_above, lag: 5, partition: -1}\n", []string{`rule "x"`, "field partition"}},
		{"an unknown field of an action", "rules:\n  - name: x\n    kind: stage_down\n    stage: store\n    actions:\n      - webhook: http://127.0.0.1/\n        retry: 3\n",
			[]string{`rule "x" (line 2)`, `unknown field "actions[1].retry"`}},
		{"a command as a string", "rules:\n  - name: x\n    kind: stage_down\n    stage: store\n    actions:\n      - exec: notify-send hi\n",
			[]string{`rule "x" (line 2)`, `field actions[1].exec: want a list of strings`}},
		{"a command not found", "rules:\n  - {name: x, kind: stage_down, stage: store, actions: [{exec: [no-such-command-for-tradetop]}]}\n",
			[]string{`rule "x" (line 2)`, "field actions[1].exec"}},
		{"an action of both", "rules:\n  - {name: x, kind: stage_down, stage: store, actions: [{exec: [sh], webhook: 'http://h/'}]}\n",
			[]string{`rule "x" (line 2)`, "field actions[1].exec: want exactly one of exec"}},
		{"a webhook not http", "rules:\n  - {name: x, kind: stage_down, stage: store, actions: [{webhook: 'ftp://h/'}]}\n",
			[]string{`rule "x" (line 2)`, "field actions[1].webhook"}},
		{"a timeout too long", "rules:\n  - {name: x, kind: stage_down, stage: store, actions: [{webhook: 'http://h/', timeout: 1h}]}\n",
			[]string{`rule "x" (line 2)`, "field actions[1].timeout"}},
		{"an action not a mapping", "rules:\n  - {name: x, kind: stage_down, stage: store, actions: [sh]}\n",
			[]string{`rule "x" (line 2)`, "field actions[1]: want an action"}},
		{"a rule not a mapping", "rules:\n  - price_above\n", []string{"rule 1 (line 2)", "want a rule"}},
		{"rules not a list", "rules: all\n", []string{"line 1", "field rules: want a list"}},
		{"an unknown top-level field", "rulez:\n" + ok, []string{"line 1", `unknown field "rulez"`}},
		{"a list at the top", "- {name: x}\n", []string{"line 1", "want a mapping with rules"}},
		{"no rules", "rules: []\n", []string{"no rules"}},
		{"nothing", "", []string{"no rules"}},
		{"not YAML", "rules: [\n", []string{"yaml: line"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.yaml
			if strings.HasPrefix(src, "  - ") {
				src = "rules:\n" + src
			}
			path := filepath.Join(t.TempDir(), "alerts.yaml")
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatalf("%q loads", src)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, path+": ") {
				t.Errorf("error %q: want one line that starts with the file", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
		})
	}
}
