package eval

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// MultinomialBaseline is the TF-IDF baseline for K > 2 classes: multinomial logistic regression
// (softmax) over Baseline's features, minimising C·Σ cross-entropy + ½Σₖ‖wₖ‖² (intercepts not
// penalised), as scikit-learn's LogisticRegression(multi_class="multinomial") does.
type MultinomialBaseline struct {
	features   *Baseline   // vocabulary and idf (its binary weights unused)
	weights    [][]float64 // [class][feature]
	intercepts []float64
	// Objective is C·Σ cross-entropy + ½Σ‖wₖ‖² at the solution, over the solver's columns.
	Objective float64
}

// multinomialGradTol stops L-BFGS when the gradient's largest entry is this share of its value
// at w = 0; a line search that fails (rounding) is accepted below multinomialGradFloor of it
// (2,000 rows without signal stop at 1.0e-5: TestMultinomialBaselineNoSignal).
const (
	multinomialGradTol   = 1e-8
	multinomialGradFloor = 1e-4
)

// FitMultinomialBaseline fits the K-class baseline on texts labelled 0..k-1.
func FitMultinomialBaseline(texts []string, labels []int, k int) (*MultinomialBaseline, error) {
	if len(texts) != len(labels) {
		return nil, fmt.Errorf("train baseline: %d texts, %d labels", len(texts), len(labels))
	}
	if len(texts) == 0 || k < 2 {
		return nil, fmt.Errorf("train baseline: %d rows, %d classes; need rows and at least two classes", len(texts), k)
	}
	seen := map[int]bool{}
	for i, l := range labels {
		if l < 0 || l >= k {
			return nil, fmt.Errorf("train baseline: row %d: label %d not a class 0..%d", i+1, l, k-1)
		}
		seen[l] = true
	}
	if len(seen) < 2 {
		return nil, fmt.Errorf("train baseline: all %d training rows have label %d; need two classes or more", len(labels), labels[0])
	}
	b, x, hap, err := buildFeatures(texts, func(string, int, int, string) {}, false)
	if err != nil {
		return nil, err
	}
	p := &softmaxProblem{x: x, y: labels, k: k, dim: x.cols}
	w, err := p.minimize()
	if err != nil {
		return nil, err
	}
	m := &MultinomialBaseline{features: b, Objective: p.fun(w), intercepts: make([]float64, k)}
	for c := range k {
		wc := w[c*(x.cols+1) : (c+1)*(x.cols+1)]
		m.weights = append(m.weights, b.spreadWeights(wc[:x.cols], x.cols, hap, len(labels)))
		m.intercepts[c] = wc[x.cols]
	}
	b.solverCols = nil
	return m, nil
}

// spreadWeights maps solver weights back onto every feature: a feature's own column, or its
// share of its row's hapax column (see fit).
func (b *Baseline) spreadWeights(w []float64, cols int, hap *hapaxRows, n int) []float64 {
	out := make([]float64, len(b.idf))
	for j, c := range b.solverCols {
		if c >= 0 {
			out[j] = w[c]
		}
	}
	shared := cols - n
	for i := range n {
		lo, hi := hap.ptr[i], hap.ptr[i+1]
		q := 0.0
		for _, v := range hap.val[lo:hi] {
			q += float64(v) * float64(v)
		}
		s := float64(float32(math.Sqrt(q)))
		for k := lo; k < hi; k++ {
			out[hap.feat[k]] = w[shared+i] * float64(hap.val[k]) * s / q
		}
	}
	return out
}

// Predict returns the K class probabilities of text.
func (m *MultinomialBaseline) Predict(text string) []float64 {
	idx, val := m.features.vector(text)
	z := make([]float64, len(m.weights))
	for c, w := range m.weights {
		z[c] = m.intercepts[c]
		for k, j := range idx {
			z[c] += float64(val[k]) * w[j]
		}
	}
	return softmax(z)
}

// minimize runs L-BFGS from w = 0 and returns the weights.
func (p *softmaxProblem) minimize() ([]float64, error) {
	w := make([]float64, p.k*(p.dim+1))
	g0 := p.gradMax(w)
	res, err := optimize.Minimize(optimize.Problem{Func: p.fun, Grad: p.grad}, w,
		&optimize.Settings{GradientThreshold: multinomialGradTol * g0, MajorIterations: 100000}, &optimize.LBFGS{})
	if res == nil {
		return nil, fmt.Errorf("train baseline: %w", err)
	}
	if g := p.gradMax(res.X); err != nil && g > multinomialGradFloor*g0 {
		return nil, fmt.Errorf("train baseline: %w (largest gradient %.2g, %.2g of its start)", err, g, g/g0)
	}
	for _, v := range res.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("train baseline: optimisation diverged")
		}
	}
	return res.X, nil
}

// gradMax returns the largest absolute entry of the gradient at w.
func (p *softmaxProblem) gradMax(w []float64) float64 {
	g := make([]float64, len(w))
	p.grad(g, w)
	mx := 0.0
	for _, v := range g {
		mx = math.Max(mx, math.Abs(v))
	}
	return mx
}

// softmax returns exp(z) normalised, computed stably.
func softmax(z []float64) []float64 {
	top := math.Inf(-1)
	for _, v := range z {
		top = math.Max(top, v)
	}
	out := make([]float64, len(z))
	sum := 0.0
	for i, v := range z {
		out[i] = math.Exp(v - top)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// softmaxProblem is the multinomial objective over the solver's columns; x holds class c's
// weights at [c·(dim+1), c·(dim+1)+dim) and its intercept right after.
type softmaxProblem struct {
	x      *csr
	y      []int
	k, dim int
}

// scores returns each row's K scores under x.
func (p *softmaxProblem) scores(w []float64) [][]float64 {
	z := make([][]float64, len(p.y))
	for _, blk := range p.x.blocks {
		for r := range len(blk.ptr) - 1 {
			row := make([]float64, p.k)
			for c := range p.k {
				base := c * (p.dim + 1)
				s := w[base+p.dim]
				for e := blk.ptr[r]; e < blk.ptr[r+1]; e++ {
					s += float64(blk.val[e]) * w[base+int(blk.idx[e])]
				}
				row[c] = s
			}
			z[blk.first+r] = row
		}
	}
	return z
}

func (p *softmaxProblem) penalty(w []float64) float64 {
	f := 0.0
	for c := range p.k {
		for _, v := range w[c*(p.dim+1) : c*(p.dim+1)+p.dim] {
			f += v * v / 2
		}
	}
	return f
}

func (p *softmaxProblem) fun(w []float64) float64 {
	f := p.penalty(w)
	for i, z := range p.scores(w) {
		top := math.Inf(-1)
		for _, v := range z {
			top = math.Max(top, v)
		}
		sum := 0.0
		for _, v := range z {
			sum += math.Exp(v - top)
		}
		f += BaselineC * (top + math.Log(sum) - z[p.y[i]])
	}
	return f
}

func (p *softmaxProblem) grad(g, w []float64) {
	for c := range p.k {
		base := c * (p.dim + 1)
		copy(g[base:base+p.dim], w[base:base+p.dim])
		g[base+p.dim] = 0
	}
	z := p.scores(w)
	for _, blk := range p.x.blocks {
		for r := range len(blk.ptr) - 1 {
			i := blk.first + r
			prob := softmax(z[i])
			for c := range p.k {
				d := prob[c]
				if c == p.y[i] {
					d--
				}
				d *= BaselineC
				base := c * (p.dim + 1)
				g[base+p.dim] += d
				for e := blk.ptr[r]; e < blk.ptr[r+1]; e++ {
					g[base+int(blk.idx[e])] += d * float64(blk.val[e])
				}
			}
		}
	}
}
