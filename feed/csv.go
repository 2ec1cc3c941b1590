package feed

import (
	"fmt"
	"slices"
	"strings"
)

// CSVColumns finds named columns in the header record of a CSV file. It
// returns the position in header of each of names (lower case), -1 for a
// name the header lacks; fields are compared in lower case. A name twice in
// the header is an error. A field that is none of names is skipped when
// unknown is nil, and otherwise an error: the one unknown returns for the
// field in lower case.
func CSVColumns(header, names []string, unknown func(field string) error) ([]int, error) {
	pos := make([]int, len(names))
	for i := range pos {
		pos[i] = -1
	}
	for i, h := range header {
		h = strings.ToLower(h)
		k := slices.Index(names, h)
		switch {
		case k < 0 && unknown == nil:
			continue
		case k < 0:
			return pos, unknown(h)
		case pos[k] >= 0:
			return pos, fmt.Errorf("column %q twice in header", h)
		}
		pos[k] = i
	}
	return pos, nil
}
