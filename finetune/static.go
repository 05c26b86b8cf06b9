package finetune

import (
	"errors"
	"fmt"
	"slices"
)

// Static shapes (--static-shapes): every micro-batch runs at one of a few shapes, so a CUDA graph
// can be captured per shape and replayed. Rows are padded on the right to their batch's bucket (the
// causal mask keeps real tokens from seeing the padding), and a batch short of rows gets filler rows
// whose answer positions the loss ignores; the real rows' loss and gradients are the dynamic step's.

// shapeQuantum is the step between candidate bucket lengths: tensor-core friendly, and fine enough
// that rounding a batch up to its bucket wastes little.
const shapeQuantum = 8

// DefaultMaxShapes is how many sequence lengths the planner may pick: each is one CUDA graph.
const DefaultMaxShapes = 8

// ShapePlan is the static-shape step's shapes: Rows rows a micro-batch, padded to one of Buckets.
type ShapePlan struct {
	Rows    int   `json:"rows"`
	Buckets []int `json:"buckets"` // ascending; the last holds the longest example
}

// PlanShapes picks at most maxShapes bucket lengths (multiples of 8) for batches of batchSize rows
// of the given example lengths: the set that pads epoch 0's length-grouped batches the least (a
// dynamic programme over the candidate lengths the batches need).
func PlanShapes(lengths []int, batchSize, maxShapes int, seed uint64) (ShapePlan, error) {
	if len(lengths) == 0 || batchSize <= 0 || maxShapes <= 0 {
		return ShapePlan{}, errors.New("static shapes: need examples, a batch size and at least one shape")
	}
	var need []int // each batch's longest row, rounded up to the quantum
	for _, b := range epochBatches(lengths, batchSize, seed, 0) {
		longest := 0
		for _, i := range b {
			longest = max(longest, lengths[i])
		}
		need = append(need, roundUp(longest, shapeQuantum))
	}
	slices.Sort(need)
	return ShapePlan{Rows: batchSize, Buckets: cheapestBuckets(need, maxShapes)}, nil
}

func roundUp(n, q int) int { return (n + q - 1) / q * q }

// cheapestBuckets chooses at most k values among the sorted needs, the largest always among them,
// minimising the sum over needs of the smallest chosen value ≥ it.
func cheapestBuckets(need []int, k int) []int {
	vals := slices.Compact(slices.Clone(need))
	count := make([]int, len(vals)) // batches needing exactly vals[i]
	for i, j := 0, 0; i < len(need); i++ {
		for vals[j] != need[i] {
			j++
		}
		count[j]++
	}
	// cost(a, b): needs vals[a..b] served by bucket vals[b].
	cost := func(a, b int) int {
		c := 0
		for i := a; i <= b; i++ {
			c += count[i] * (vals[b] - vals[i])
		}
		return c
	}
	n := len(vals)
	k = min(k, n)
	const inf = int(^uint(0) >> 1)
	// best[j][b]: least cost of serving vals[0..b] with j buckets, the largest vals[b]; from[j][b] the previous bucket.
	best := make([][]int, k+1)
	from := make([][]int, k+1)
	for j := range best {
		best[j], from[j] = make([]int, n), make([]int, n)
		for b := range best[j] {
			best[j][b], from[j][b] = inf, -1
		}
	}
	for b := 0; b < n; b++ {
		best[1][b] = cost(0, b)
	}
	for j := 2; j <= k; j++ {
		for b := j - 1; b < n; b++ {
			for a := j - 2; a < b; a++ {
				if best[j-1][a] == inf {
					continue
				}
				if c := best[j-1][a] + cost(a+1, b); c < best[j][b] {
					best[j][b], from[j][b] = c, a
				}
			}
		}
	}
	j := 1
	for jj := 2; jj <= k; jj++ {
		if best[jj][n-1] < best[j][n-1] {
			j = jj
		}
	}
	var out []int
	for b := n - 1; b >= 0 && j >= 1; j-- {
		out = append(out, vals[b])
		b = from[j][b]
	}
	slices.Reverse(out)
	return out
}

// Bucket is the padded length of a batch whose longest row has n tokens: the smallest bucket ≥ n,
// or n rounded up to the quantum past the last bucket (a longer row than the plan saw).
func (p ShapePlan) Bucket(n int) int {
	for _, b := range p.Buckets {
		if b >= n {
			return b
		}
	}
	return roundUp(n, shapeQuantum)
}

// Padding is the share of padded positions (rows × length − real tokens over rows × length) over
// the batches: with static shapes (Rows rows at their bucket) and with the dynamic step (each batch
// at its own rows and longest row).
func (p ShapePlan) Padding(batches [][]int, lengths []int) (static, dynamic float64) {
	var real, staticPos, dynamicPos int
	for _, b := range batches {
		longest := 0
		for _, i := range b {
			real += lengths[i]
			longest = max(longest, lengths[i])
		}
		staticPos += max(p.Rows, len(b)) * p.Bucket(longest)
		dynamicPos += len(b) * longest
	}
	if staticPos == 0 {
		return 0, 0
	}
	return float64(staticPos-real) / float64(staticPos), float64(dynamicPos-real) / float64(dynamicPos)
}

// pad lays exs out at a static shape: the rows padded to their bucket, then filler rows up to Rows,
// each with the answer positions of the longest answer, which the loss ignores.
func (p ShapePlan) pad(exs []example) []example {
	longest, answer := 0, 1
	for _, e := range exs {
		longest = max(longest, len(e.ids))
		answer = max(answer, e.answerLen())
	}
	bucket := p.Bucket(longest)
	out := make([]example, len(exs), max(p.Rows, len(exs)))
	copy(out, exs)
	for i := range out {
		out[i].padTo = bucket
	}
	for len(out) < p.Rows {
		// answer+1 pad ids: positions 0..answer-1 "predict" ids 1..answer, all ignored.
		out = append(out, example{ids: make([]int, answer+1), prompt: 1, filler: true, padTo: bucket})
	}
	return out
}

// realRows is exs without its trailing filler rows.
func realRows(exs []example) []example {
	n := len(exs)
	for n > 0 && exs[n-1].filler {
		n--
	}
	return exs[:n]
}

// describe is one line for the progress output: the shapes and their padding.
func (p ShapePlan) describe(batches [][]int, lengths []int) string {
	static, dynamic := p.Padding(batches, lengths)
	return fmt.Sprintf("static shapes: %d rows × %v tokens; padding %.1f %% of positions (dynamic step %.1f %%)\n",
		p.Rows, p.Buckets, 100*static, 100*dynamic)
}

// planShapes plans --static-shapes (and refuses --cuda-graphs, which nothing captures yet).
func (t *trainer) planShapes() error {
	cfg := t.cfg
	if cfg.CUDAGraphs {
		if !t.dev.CUDA {
			return fmt.Errorf("--cuda-graphs needs a CUDA device (it would capture each static-shape step as a CUDA graph); this run is on %v: use --static-shapes for the same shapes run eagerly", t.dev)
		}
		return errors.New("--cuda-graphs: CUDA graph capture is not built yet; --static-shapes runs the same shapes eagerly")
	}
	if !cfg.StaticShapes {
		return nil
	}
	rows := (cfg.BatchSize + t.d.world() - 1) / t.d.world() // each rank's share of a batch
	plan, err := PlanShapes(t.lengths, cfg.BatchSize, DefaultMaxShapes, cfg.Seed)
	if err != nil {
		return err
	}
	plan.Rows = rows
	t.shapes = &plan
	fmt.Fprint(t.progress, plan.describe(epochBatches(t.lengths, cfg.BatchSize, cfg.Seed, 0), t.lengths))
	return nil
}

// shaped is a micro-batch's examples as the step runs them: padded to its static shape, or as they are.
func (t *trainer) shaped(exs []example) []example {
	if t.shapes == nil {
		return exs
	}
	return t.shapes.pad(exs)
}
