package rowkey

import (
	"slices"
	"testing"
)

func TestKeepLast(t *testing.T) {
	type row struct {
		key string
		val int
	}
	for _, tt := range []struct {
		name string
		in   []row
		want []row
	}{
		{"none", nil, nil},
		{"no copies", []row{{"a", 1}, {"b", 2}}, []row{{"a", 1}, {"b", 2}}},
		{"copies", []row{{"a", 1}, {"b", 2}, {"a", 3}, {"c", 4}, {"b", 5}, {"a", 6}},
			[]row{{"c", 4}, {"b", 5}, {"a", 6}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := KeepLast(slices.Clone(tt.in), func(r *row) string { return r.key })
			if !slices.Equal(got, tt.want) {
				t.Errorf("KeepLast(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
