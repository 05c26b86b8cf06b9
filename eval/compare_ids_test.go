package eval

import (
	"math"
	"strings"
	"testing"
)

// TestCompareByIDOnly: two prediction sets with ids are paired by id or not at all; position
// pairs only sets without ids.
func TestCompareByIDOnly(t *testing.T) {
	rows := func(ids ...string) []Prediction {
		var out []Prediction
		for i, id := range ids {
			out = append(out, Prediction{ID: id, Label: i % 2, Pred: 1, Prob: math.NaN()})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		a, b []Prediction
		want string // error, or "" with the pairing
		by   string
	}{
		{"same ids, other order", rows("r1", "r2", "r3", "r4"), rows("r3", "r4", "r1", "r2"), "", "id"},
		{"other rows, same labels", rows("r1", "r2", "r3", "r4"), rows("s1", "s2", "s3", "s4"), `not the same rows: id "r1" of A is not in B`, ""},
		{"repeated id", rows("r1", "r2", "r1", "r4"), rows("r1", "r2", "r3", "r4"), `id "r1" appears twice in A`, ""},
		{"no ids", rows("", "", "", ""), rows("", "", "", ""), "", "order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compare(tc.a, tc.b)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil || c.PairedBy != tc.by || c.N != len(tc.a) {
				t.Fatalf("comparison %+v, %v; want paired by %s", c, err, tc.by)
			}
		})
	}
}
