package eval

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"

	"gonum.org/v1/gonum/optimize"

	"github.com/sentitune/sentitune/prep"
)

// BaselineC is the inverse L2 strength of the baseline's logistic regression (scikit-learn's C).
// 10 suits short review sentences: on the Amazon sentences, 80/20, it scores about 0.83.
const BaselineC = 10.0

// Baseline is a TF-IDF (word unigrams + bigrams) logistic regression: the cheap classifier a
// fine-tuned model has to beat. Features follow scikit-learn's TfidfVectorizer(ngram_range=(1, 2))
// — lower-cased tokens of two or more word characters, smoothed idf, L2-normalised rows — except
// that Chinese/Japanese characters are tokens of their own (those scripts have no spaces).
// The model minimises C·Σ log-loss + ½‖w‖² (intercept not penalised) with L-BFGS, so training
// is deterministic.
type Baseline struct {
	Vocab     map[string]int
	IDF       []float64
	Weights   []float64
	Intercept float64
	// Objective per L-BFGS iteration (mean log-loss + penalty / (C·n)), for a training curve.
	Objective []float64
}

// TrainBaseline fits the baseline on texts labelled 0/1.
func TrainBaseline(texts []string, labels []int) (*Baseline, error) {
	if len(texts) != len(labels) {
		return nil, fmt.Errorf("train baseline: %d texts, %d labels", len(texts), len(labels))
	}
	if len(texts) == 0 {
		return nil, errors.New("train baseline: no training rows")
	}
	var npos int
	for i, l := range labels {
		if l != 0 && l != 1 {
			return nil, fmt.Errorf("train baseline: row %d: label %d not 0 or 1", i+1, l)
		}
		npos += l
	}
	if npos == 0 || npos == len(labels) {
		return nil, fmt.Errorf("train baseline: all %d training rows have label %d; need both classes", len(labels), labels[0])
	}

	docs := make([][]string, len(texts))
	df := map[string]int{}
	for i, t := range texts {
		docs[i] = terms(t)
		seen := map[string]bool{}
		for _, term := range docs[i] {
			if !seen[term] {
				seen[term] = true
				df[term]++
			}
		}
	}
	if len(df) == 0 {
		return nil, errors.New("train baseline: the training texts contain no words")
	}
	names := make([]string, 0, len(df))
	for t := range df {
		names = append(names, t)
	}
	sort.Strings(names)
	b := &Baseline{Vocab: make(map[string]int, len(names)), IDF: make([]float64, len(names))}
	n := float64(len(texts))
	for i, t := range names {
		b.Vocab[t] = i
		b.IDF[i] = math.Log((1+n)/(1+float64(df[t]))) + 1
	}
	rows := make([]sparse, len(docs))
	for i, d := range docs {
		rows[i] = b.vector(d)
	}
	if err := b.fit(rows, labels); err != nil {
		return nil, err
	}
	return b, nil
}

// Predict returns P(label = 1) for text.
func (b *Baseline) Predict(text string) float64 {
	v := b.vector(terms(text))
	return sigmoid(v.dot(b.Weights) + b.Intercept)
}

// PredictAll scores texts and returns predictions (pred = prob >= 0.5) with the given labels
// and ids (ids may be nil: then row numbers).
func (b *Baseline) PredictAll(ids, texts []string, labels []int) []Prediction {
	out := make([]Prediction, len(texts))
	for i, t := range texts {
		p := Prediction{Text: t, Label: labels[i], Prob: b.Predict(t)}
		if ids != nil {
			p.ID = ids[i]
		} else {
			p.ID = fmt.Sprint(i + 1)
		}
		if p.Prob >= 0.5 {
			p.Pred = 1
		}
		out[i] = p
	}
	return out
}

// sparse is an L2-normalised TF-IDF row.
type sparse struct {
	idx []int
	val []float64
}

func (s sparse) dot(w []float64) float64 {
	z := 0.0
	for k, j := range s.idx {
		z += s.val[k] * w[j]
	}
	return z
}

func (b *Baseline) vector(doc []string) sparse {
	counts := map[int]float64{}
	for _, t := range doc {
		if j, ok := b.Vocab[t]; ok {
			counts[j]++
		}
	}
	s := sparse{idx: make([]int, 0, len(counts)), val: make([]float64, 0, len(counts))}
	for j := range counts {
		s.idx = append(s.idx, j)
	}
	sort.Ints(s.idx) // fixed summation order keeps training bit-for-bit deterministic
	norm := 0.0
	for _, j := range s.idx {
		v := counts[j] * b.IDF[j]
		s.val = append(s.val, v)
		norm += v * v
	}
	if norm > 0 {
		norm = math.Sqrt(norm)
		for k := range s.val {
			s.val[k] /= norm
		}
	}
	return s
}

// fit minimises (C·Σ log(1 + exp(−y·z)) + ½‖w‖²) / (C·n), y ∈ {−1, +1}; the last parameter is
// the unpenalised intercept.
func (b *Baseline) fit(rows []sparse, labels []int) error {
	dim := len(b.IDF)
	scale := 1 / (BaselineC * float64(len(rows)))
	y := make([]float64, len(labels))
	for i, l := range labels {
		y[i] = float64(2*l - 1)
	}
	margins := make([]float64, len(rows))
	problem := optimize.Problem{
		Func: func(x []float64) float64 {
			f := 0.0
			for i, r := range rows {
				f += logOnePlusExp(-y[i] * (r.dot(x[:dim]) + x[dim]))
			}
			reg := 0.0
			for _, w := range x[:dim] {
				reg += w * w
			}
			return (BaselineC*f + reg/2) * scale
		},
		Grad: func(grad, x []float64) {
			for j := range grad {
				grad[j] = 0
			}
			for i, r := range rows {
				margins[i] = y[i] * (r.dot(x[:dim]) + x[dim])
				g := -y[i] * sigmoid(-margins[i]) * BaselineC * scale
				for k, j := range r.idx {
					grad[j] += g * r.val[k]
				}
				grad[dim] += g
			}
			for j, w := range x[:dim] {
				grad[j] += w * scale
			}
		},
	}
	b.Objective = []float64{math.Ln2} // the objective at w = 0, b = 0
	settings := &optimize.Settings{
		GradientThreshold: 1e-10,
		MajorIterations:   5000,
		Recorder:          objectiveRecorder{&b.Objective},
		Converger:         &optimize.FunctionConverge{Absolute: 1e-15, Relative: 1e-15, Iterations: 20},
	}
	res, err := optimize.Minimize(problem, make([]float64, dim+1), settings, &optimize.LBFGS{})
	if err != nil && res == nil {
		return fmt.Errorf("train baseline: %w", err)
	}
	// Stopping on the iteration cap or a line search that can no longer improve (at machine
	// precision) still leaves a usable optimum; anything else is an error.
	if err != nil && res.Status != optimize.IterationLimit && !errors.Is(err, optimize.ErrLinesearcherFailure) && !errors.Is(err, optimize.ErrNoProgress) {
		return fmt.Errorf("train baseline: %w", err)
	}
	for _, v := range res.X {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("train baseline: optimisation diverged")
		}
	}
	b.Weights, b.Intercept = res.X[:dim], res.X[dim]
	return nil
}

type objectiveRecorder struct{ out *[]float64 }

func (objectiveRecorder) Init() error { return nil }

func (r objectiveRecorder) Record(loc *optimize.Location, op optimize.Operation, _ *optimize.Stats) error {
	if op == optimize.MajorIteration && !math.IsInf(loc.F, 0) {
		*r.out = append(*r.out, loc.F)
	}
	return nil
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func logOnePlusExp(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

// terms returns the unigrams and bigrams of text.
func terms(text string) []string {
	toks := tokens(text)
	out := make([]string, 0, 2*len(toks))
	out = append(out, toks...)
	for i := 1; i < len(toks); i++ {
		out = append(out, toks[i-1]+" "+toks[i])
	}
	return out
}

// tokens mirrors scikit-learn's default token_pattern (?u)\b\w\w+\b on lower-cased text,
// with each Han, Hiragana or Katakana character a token of its own.
func tokens(text string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) >= 2 {
			out = append(out, string(cur))
		}
		cur = cur[:0]
	}
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana):
			flush()
			out = append(out, string(r))
		case unicode.IsLetter(r) || unicode.IsNumber(r) || r == '_':
			cur = append(cur, r)
		default:
			flush()
		}
	}
	flush()
	return out
}

// ReadLabelledAlpaca reads a prep split (train.json / test.json): the review is the record's
// input (its instruction when input is empty) and the label its output, "1" or "0".
func ReadLabelledAlpaca(path string) (texts []string, labels []int, err error) {
	recs, err := prep.ReadAlpaca(path)
	if err != nil {
		return nil, nil, err
	}
	for i, r := range recs {
		text := r.Input
		if strings.TrimSpace(text) == "" {
			text = r.Instruction
		}
		var l int
		switch strings.TrimSpace(r.Output) {
		case "1":
			l = 1
		case "0":
			l = 0
		default:
			return nil, nil, fmt.Errorf("read %s record %d: output %q is not a 1/0 label", path, i+1, r.Output)
		}
		texts = append(texts, text)
		labels = append(labels, l)
	}
	if len(texts) == 0 {
		return nil, nil, fmt.Errorf("read %s: no records", path)
	}
	return texts, labels, nil
}
