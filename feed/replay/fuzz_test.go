package replay

import (
	"strings"
	"testing"

	"github.com/tradetop/tradetop/trade"
)

// maxErrorLine bounds one line of an error message: it may quote the input,
// but only an excerpt of it.
const maxErrorLine = 512

// checkErrorLines fails unless err reads as at most maxLines short lines of
// printable text: what a user is told about bad input, one line for each
// thing wrong with it.
func checkErrorLines(t *testing.T, err error, maxLines int) {
	t.Helper()
	msg := err.Error()
	lines := strings.Split(msg, "\n")
	if len(lines) > maxLines {
		t.Fatalf("error of %d lines, want at most %d: %.200q", len(lines), maxLines, msg)
	}
	for _, l := range lines {
		switch {
		case strings.TrimSpace(l) == "":
			t.Fatalf("error %.200q has an empty line", msg)
		case len(l) > maxErrorLine:
			t.Fatalf("error line of %d bytes, more than %d: %.80q…", len(l), maxErrorLine, l)
		case !trade.Printable(l):
			t.Fatalf("error line %q is not printable UTF-8", l)
		}
	}
}
