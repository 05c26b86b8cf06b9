package eval

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Comparison pairs two classifiers' predictions on the same rows and tests whether their
// error rates differ (McNemar's test on the discordant pairs).
type Comparison struct {
	A           string   `json:"a"`
	B           string   `json:"b"`
	N           int      `json:"n"`
	PairedBy    string   `json:"paired_by"` // "id" or "order"
	AccuracyA   float64  `json:"accuracy_a"`
	AccuracyB   float64  `json:"accuracy_b"`
	BothCorrect int      `json:"both_correct"`
	AOnly       int      `json:"a_only_correct"`
	BOnly       int      `json:"b_only_correct"`
	BothWrong   int      `json:"both_wrong"`
	Method      string   `json:"method"`    // "exact" (binomial), "chi2" (continuity-corrected) or "none" (no discordant pairs)
	Statistic   *float64 `json:"statistic"` // chi-square statistic; null for the exact test
	PValue      float64  `json:"p_value"`   // two-sided
}

// McNemarExactBelow is the number of discordant pairs from which the chi-square approximation
// (with continuity correction) replaces the exact binomial test.
const McNemarExactBelow = 25

// Compare pairs a and b (by id when both carry the same unique ids; by position only when a
// side carries no ids at all), checks that they label every row alike, and runs McNemar's test.
// Two sides with ids that are not the same set are different rows: an error, not a test. A and
// B in the result are left empty for the caller to name.
func Compare(a, b []Prediction) (*Comparison, error) {
	if len(a) != len(b) {
		return nil, fmt.Errorf("compare: %d vs %d predictions; McNemar's test needs the same rows", len(a), len(b))
	}
	if len(a) == 0 {
		return nil, fmt.Errorf("compare: no predictions")
	}
	c := &Comparison{N: len(a), PairedBy: "order"}
	order := make([]int, len(a)) // order[i] = index in b paired with a[i]
	for i := range order {
		order[i] = i
	}
	if byID, ok := pairByID(a, b); ok {
		order, c.PairedBy = byID, "id"
	} else if allIDs(a) && allIDs(b) {
		return nil, fmt.Errorf("compare: not the same rows: %s; McNemar's test needs the same rows, matched by id", idMismatch(a, b))
	}
	correctA, correctB := 0, 0
	for i, j := range order {
		pa, pb := a[i], b[j]
		if pa.Label != pb.Label {
			return nil, fmt.Errorf("compare: row %d (id %q): label %d vs %d; not the same test set", i+1, pa.ID, pa.Label, pb.Label)
		}
		okA, okB := pa.Pred == pa.Label, pb.Pred == pb.Label
		switch {
		case okA && okB:
			c.BothCorrect++
		case okA:
			c.AOnly++
		case okB:
			c.BOnly++
		default:
			c.BothWrong++
		}
		if okA {
			correctA++
		}
		if okB {
			correctB++
		}
	}
	c.AccuracyA, c.AccuracyB = float64(correctA)/float64(c.N), float64(correctB)/float64(c.N)
	c.Method, c.Statistic, c.PValue = McNemar(c.AOnly, c.BOnly)
	return c, nil
}

// pairByID returns, for each row of a, the index of the row of b with the same id, when ids
// are present, unique, and the same set on both sides.
func pairByID(a, b []Prediction) ([]int, bool) {
	idx := make(map[string]int, len(b))
	for j, p := range b {
		if p.ID == "" {
			return nil, false
		}
		if _, dup := idx[p.ID]; dup {
			return nil, false
		}
		idx[p.ID] = j
	}
	order := make([]int, len(a))
	seen := make(map[string]bool, len(a))
	for i, p := range a {
		j, ok := idx[p.ID]
		if !ok || seen[p.ID] {
			return nil, false
		}
		seen[p.ID] = true
		order[i] = j
	}
	return order, true
}

func allIDs(ps []Prediction) bool {
	for _, p := range ps {
		if p.ID == "" {
			return false
		}
	}
	return true
}

// idMismatch says why a and b, both with ids, cannot be paired by id.
func idMismatch(a, b []Prediction) string {
	for _, side := range []struct {
		name string
		ps   []Prediction
	}{{"A", a}, {"B", b}} {
		seen := make(map[string]bool, len(side.ps))
		for _, p := range side.ps {
			if seen[p.ID] {
				return fmt.Sprintf("id %q appears twice in %s", p.ID, side.name)
			}
			seen[p.ID] = true
		}
	}
	inB := make(map[string]bool, len(b))
	for _, p := range b {
		inB[p.ID] = true
	}
	for _, p := range a {
		if !inB[p.ID] {
			return fmt.Sprintf("id %q of A is not in B", p.ID)
		}
	}
	return "the ids differ"
}

// McNemar tests the discordant counts b (only A right) and c (only B right): the exact
// two-sided binomial test when b + c < McNemarExactBelow, otherwise chi-square with
// continuity correction, max(0, |b − c| − 1)² / (b + c), on one degree of freedom.
func McNemar(b, c int) (method string, statistic *float64, p float64) {
	d := b + c
	switch {
	case d == 0:
		return "none", nil, 1
	case d < McNemarExactBelow:
		k := float64(min(b, c))
		p = 2 * distuv.Binomial{N: float64(d), P: 0.5}.CDF(k)
		return "exact", nil, math.Min(1, p)
	default:
		x := math.Max(0, math.Abs(float64(b-c))-1) // b = c must not give a positive statistic
		x = x * x / float64(d)
		return "chi2", &x, distuv.ChiSquared{K: 1}.Survival(x)
	}
}
