package main

import (
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// envName is the variable that sets the flag name.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// otherVariables are the TRADETOP_ variables that are not flags.
var otherVariables = map[string]bool{kafkaPasswordEnv: true, cassandraPasswordEnv: true, postgresPasswordEnv: true, controlTokenEnv: true}

// unknownVariables says, one line each, which TRADETOP_ variables set
// nothing, naming the closest flag's.
func unknownVariables(env environment, fs *flag.FlagSet) []string {
	known := map[string]bool{}
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		known[envName(f.Name)] = true
		names = append(names, envName(f.Name))
	})
	var out []string
	for _, v := range env.names() {
		if !strings.HasPrefix(v, envPrefix) || known[v] || otherVariables[v] || strings.HasPrefix(v, envPrefix+"E2E_") {
			continue
		}
		line := fmt.Sprintf("warning: %s is not a tradetop setting; it is ignored", strconv.Quote(v))
		if near, d := closest(v, names); d <= 3 {
			line += fmt.Sprintf(" (did you mean %s?)", near)
		}
		out = append(out, line)
	}
	return out
}

// closest returns the name nearest to s by edit distance, and the distance.
func closest(s string, names []string) (string, int) {
	best, bestD := "", math.MaxInt
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best, bestD
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// environment is the process's environment, by name.
type environment map[string]string

// osEnvironment reads the process's environment.
func osEnvironment() environment {
	env := environment{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

func (e environment) get(name string) string { return e[name] }

// names returns the names set, sorted.
func (e environment) names() []string { return slices.Sorted(maps.Keys(e)) }
