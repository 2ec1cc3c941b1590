package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var built struct {
	once sync.Once
	path string
	err  error
}

// Build builds the command in the test's working directory (the package
// under test, the module's root for tradetop's own tests) once per test
// binary, and returns the binary's path. It goes in a directory named
// after the test process; those left by test processes that have ended
// are removed.
func Build(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		removeStaleBuilds()
		dir, err := os.MkdirTemp("", fmt.Sprintf("tradetop-bin-%d-", os.Getpid()))
		if err != nil {
			built.err = err
			return
		}
		bin := filepath.Join(dir, "tradetop")
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built.path = bin
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// removeStaleBuilds removes the build directories of test processes that
// no longer run.
func removeStaleBuilds() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "tradetop-bin-*-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.Split(filepath.Base(d), "-")[2])
		if err == nil && pid != os.Getpid() && ended(pid) {
			os.RemoveAll(d)
		}
	}
}
