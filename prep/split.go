package prep

import (
	"math"
	"slices"
)

// Split names, in output order.
const (
	SplitTrain = "train"
	SplitVal   = "val"
	SplitTest  = "test"
)

// rng is SplitMix64: tiny, and fixed forever, so a seed gives the same split
// on every Go version and platform.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a uniform value in [0, n) (rejection sampling, no modulo bias).
func (r *rng) intn(n int) int {
	un := uint64(n)
	limit := -un % un // 2^64 mod n
	for {
		if v := r.next(); v >= limit {
			return int(v % un)
		}
	}
}

// StratifiedSplit assigns each example (by index into labels) to train, val
// or test. Within each label, round(n·testRatio) examples go to test and
// round(n·valRatio) to val, chosen by a seeded Fisher–Yates shuffle of that
// label's indexes; so each split's label counts are within one row of the
// exact ratio. Labels are processed in increasing order.
func StratifiedSplit(labels []int, testRatio, valRatio float64, seed int64) []string {
	byLabel := map[int][]int{}
	var order []int
	for i, l := range labels {
		if _, ok := byLabel[l]; !ok {
			order = append(order, l)
		}
		byLabel[l] = append(byLabel[l], i)
	}
	slices.Sort(order)
	out := make([]string, len(labels))
	r := &rng{s: uint64(seed)}
	for _, l := range order {
		idx := byLabel[l]
		for i := len(idx) - 1; i > 0; i-- {
			j := r.intn(i + 1)
			idx[i], idx[j] = idx[j], idx[i]
		}
		n := len(idx)
		nTest := int(math.Round(float64(n) * testRatio))
		nVal := int(math.Round(float64(n) * valRatio))
		if nTest+nVal > n {
			nVal = n - nTest
		}
		for k, i := range idx {
			switch {
			case k < nTest:
				out[i] = SplitTest
			case k < nTest+nVal:
				out[i] = SplitVal
			default:
				out[i] = SplitTrain
			}
		}
	}
	return out
}
