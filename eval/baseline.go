package eval

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// BaselineC is the inverse L2 strength of the baseline's logistic regression (scikit-learn's C).
// 10 suits short review sentences: on the Amazon sentences, 80/20, it scores about 0.83.
const BaselineC = 10.0

// baselineTolerance stops the solver when ‖∇f‖ ≤ tolerance·‖∇f(0)‖: probabilities then agree
// with a fully converged fit to ~1e-5 (TestBaselineMatchesSklearn; 1.4e-5 on 20k long reviews),
// where 1e-7 costs 50% more Newton steps for no change in any prediction.
var baselineTolerance = 1e-4

// Baseline is a TF-IDF (word unigrams + bigrams) logistic regression: the cheap classifier a
// fine-tuned model has to beat. Features follow scikit-learn's TfidfVectorizer(ngram_range=(1, 2))
// — lower-cased tokens of two or more word characters, smoothed idf, L2-normalised rows — except
// that Chinese/Japanese characters are tokens of their own (those scripts have no spaces).
// The model minimises C·Σ log-loss + ½‖w‖² (intercept not penalised) with a trust-region Newton
// method over a sparse (CSR) matrix, so training is deterministic and takes seconds on 50k reviews.
type Baseline struct {
	unigrams  map[string]int32 // term → feature index (0 … len-1)
	bigrams   map[uint64]int32 // unigram pair (first<<32 | second) → feature index
	terms     []string         // unigram of each unigram feature, in index order
	pairs     []uint64         // unigram pair of each bigram feature, in index order (after the unigrams)
	idf       []float64
	weights   []float64
	intercept float64
	// solverCols maps a feature to its solver column (-1: a hapax); only during fit.
	solverCols []int32
	// Objective after each Newton iteration (mean log-loss + penalty / (C·n)), for a training curve;
	// the first value is at w = 0, b = 0.
	Objective []float64
	// Rows is the number of training rows.
	Rows int
}

// BaselineProgress hears how a fit goes: phase "features" counts rows done of total, phase
// "solver" counts Newton iterations (total 0: unknown) with a detail such as the gradient norm.
type BaselineProgress func(phase string, done, total int, detail string)

// Features is the number of terms (unigrams + bigrams) in the vocabulary.
func (b *Baseline) Features() int { return len(b.idf) }

// TrainBaseline fits the baseline on texts labelled 0/1.
func TrainBaseline(texts []string, labels []int) (*Baseline, error) {
	return FitBaseline(texts, labels, nil)
}

// FitBaseline fits the baseline on texts labelled 0/1, telling progress (if not nil) how it goes.
func FitBaseline(texts []string, labels []int, progress BaselineProgress) (*Baseline, error) {
	return fitBaseline(texts, labels, progress, false)
}

// fitBaseline is FitBaseline; with release it sets each text to "" once featurised, so that a
// caller that owns texts lets the reviews go before the solver's vectors are allocated.
func fitBaseline(texts []string, labels []int, progress BaselineProgress, release bool) (*Baseline, error) {
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
	if progress == nil {
		progress = func(string, int, int, string) {}
	}
	defer tightGC()()
	b, x, hap, err := buildFeatures(texts, progress, release)
	if err != nil {
		return nil, err
	}
	if err := b.fit(x, hap, labels, progress); err != nil {
		return nil, err
	}
	return b, nil
}

// tightGC lowers the heap target while a baseline is fitted, unless the user set GOGC, and returns
// the function that restores it. The fit's live set (vocabulary maps, rows) is most of its peak: Go's
// default target of 2× live put 50k IMDB-like rows at 532 MiB, 1.25× at 471 MiB for ~10 % more CPU.
func tightGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(25)
	return func() { debug.SetGCPercent(old) }
}

// csr is a sparse matrix in compressed sparse row form, stored in blocks of whole rows so that
// building it never copies a grown array (which doubled the peak memory).
type csr struct {
	blocks []csrBlock
	rows   int
	cols   int
}

// csrBlock holds rows first, first+1, …: row r is idx/val[ptr[r-first]:ptr[r-first+1]]. Values
// are float32 (half the memory of float64; products are summed in float64).
type csrBlock struct {
	first int
	ptr   []int32
	idx   []int32
	val   []float32
}

const csrBlockEntries = 1 << 18 // 2 MiB of entries: many blocks, so the two halves balance

// hapaxRows holds, per training row, the features that occur in no other row (most bigrams):
// the solver sees each row's hapaxes as one column (see buildFeatures), and fit spreads that
// column's weight back over them.
type hapaxRows struct {
	ptr  []int
	feat []int32
	val  []float32
}

const bigramTag = math.MinInt32 // the sign bit marks a bigram's index while the unigram count is not yet known

// buildFeatures learns the vocabulary and idf from texts and returns their TF-IDF rows for the
// solver. One pass over the texts counts each row's terms with a last-seen table (no map per
// row). Then, since the optimal w lies in the span of the rows, a feature that occurs in one row
// only (a hapax) moves with that row's other hapaxes: in the solver they become one column of
// value √Σv² per row, which has the same optimum and cuts the solver's vectors by ~2/3 on reviews.
func buildFeatures(texts []string, progress BaselineProgress, release bool) (*Baseline, *csr, *hapaxRows, error) {
	b := &Baseline{unigrams: map[string]int32{}, bigrams: map[uint64]int32{}, Rows: len(texts)}
	var uniDF, uniLast, uniSlot, biDF, biLast, biSlot []int32
	x := &csr{rows: len(texts)}
	var blk *csrBlock
	var toks []int32
	for doc, text := range texts {
		if doc%256 == 0 {
			progress("features", doc, len(texts), "")
		}
		toks = toks[:0]
		eachToken(strings.ToLower(text), func(t string) {
			id, ok := b.unigrams[t]
			if !ok {
				t = strings.Clone(t) // the key must not pin the whole lower-cased review
				id = int32(len(b.terms))
				b.unigrams[t] = id
				b.terms = append(b.terms, t)
				uniDF, uniLast, uniSlot = append(uniDF, 0), append(uniLast, -1), append(uniSlot, 0)
			}
			toks = append(toks, id)
		})
		if release {
			texts[doc] = ""
		}
		need := 2 * len(toks) // at most: every unigram and bigram distinct
		if blk == nil || cap(blk.idx)-len(blk.idx) < need {
			size := max(csrBlockEntries, need)
			x.blocks = append(x.blocks, csrBlock{first: doc, ptr: []int32{0}, idx: make([]int32, 0, size), val: make([]float32, 0, size)})
			blk = &x.blocks[len(x.blocks)-1]
		}
		d := int32(doc)
		for _, id := range toks {
			if uniLast[id] == d {
				blk.val[uniSlot[id]]++
				continue
			}
			uniLast[id], uniSlot[id] = d, int32(len(blk.idx))
			uniDF[id]++
			blk.idx, blk.val = append(blk.idx, id), append(blk.val, 1)
		}
		for k := 1; k < len(toks); k++ {
			key := uint64(toks[k-1])<<32 | uint64(toks[k])
			id, ok := b.bigrams[key]
			if !ok {
				id = int32(len(b.pairs))
				b.bigrams[key] = id
				b.pairs = append(b.pairs, key)
				biDF, biLast, biSlot = append(biDF, 0), append(biLast, -1), append(biSlot, 0)
			}
			if biLast[id] == d {
				blk.val[biSlot[id]]++
				continue
			}
			biLast[id], biSlot[id] = d, int32(len(blk.idx))
			biDF[id]++
			blk.idx, blk.val = append(blk.idx, id|bigramTag), append(blk.val, 1)
		}
		blk.ptr = append(blk.ptr, int32(len(blk.idx)))
	}
	progress("features", len(texts), len(texts), "")
	if len(b.terms) == 0 {
		return nil, nil, nil, errors.New("train baseline: the training texts contain no words")
	}
	uniLast, uniSlot, biLast, biSlot = nil, nil, nil, nil
	nUni := int32(len(b.terms))
	for key, id := range b.bigrams {
		b.bigrams[key] = id + nUni
	}
	n := float64(len(texts))
	dfs := slices.Concat(uniDF, biDF)
	uniDF, biDF = nil, nil
	b.idf = make([]float64, len(dfs))
	col := make([]int32, len(dfs)) // feature → solver column; -1 for a hapax
	for j, df := range dfs {
		b.idf[j] = math.Log((1+n)/(1+float64(df))) + 1
		col[j] = -1
		if df > 1 {
			col[j] = int32(x.cols)
			x.cols++
		}
	}
	dfs = nil
	shared := x.cols
	x.cols += len(texts)
	hap := &hapaxRows{ptr: make([]int, 1, len(texts)+1)}
	for bi := range x.blocks {
		blk := &x.blocks[bi]
		write := int32(0)
		for r := range len(blk.ptr) - 1 {
			lo, hi := blk.ptr[r], blk.ptr[r+1]
			norm := 0.0
			for k := lo; k < hi; k++ {
				if j := blk.idx[k]; j&bigramTag != 0 {
					blk.idx[k] = j&^bigramTag + nUni
				}
				v := float64(blk.val[k]) * b.idf[blk.idx[k]]
				norm += v * v
			}
			norm = math.Sqrt(norm)
			blk.ptr[r] = write
			q := 0.0
			for k := lo; k < hi; k++ {
				j := blk.idx[k]
				v := float32(float64(blk.val[k]) * b.idf[j] / norm)
				if col[j] < 0 {
					hap.feat, hap.val = append(hap.feat, j), append(hap.val, v)
					q += float64(v) * float64(v)
					continue
				}
				blk.idx[write], blk.val[write] = col[j], v
				write++
			}
			if q > 0 { // room: at least one hapax entry was dropped
				blk.idx[write], blk.val[write] = int32(shared+blk.first+r), float32(math.Sqrt(q))
				write++
			}
			hap.ptr = append(hap.ptr, len(hap.feat))
		}
		blk.ptr[len(blk.ptr)-1] = write
		blk.idx, blk.val = blk.idx[:write], blk.val[:write]
	}
	b.solverCols = col
	return b, x, hap, nil
}

// Predict returns P(label = 1) for text.
func (b *Baseline) Predict(text string) float64 {
	idx, val := b.vector(text)
	z := b.intercept
	for k, j := range idx {
		z += float64(val[k]) * b.weights[j]
	}
	return sigmoid(z)
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

// vector is text's L2-normalised TF-IDF row over the vocabulary (unknown terms dropped, as
// scikit-learn's transform does), in index order, rounded to float32 as the training rows are.
func (b *Baseline) vector(text string) ([]int32, []float32) {
	var toks []int32 // unigram index, or -1 for a word not in the vocabulary
	var feats []int32
	eachToken(strings.ToLower(text), func(t string) {
		id, ok := b.unigrams[t]
		if !ok {
			id = -1
		} else {
			feats = append(feats, id)
		}
		toks = append(toks, id)
	})
	for k := 1; k < len(toks); k++ {
		if toks[k-1] < 0 || toks[k] < 0 {
			continue
		}
		if id, ok := b.bigrams[uint64(toks[k-1])<<32|uint64(toks[k])]; ok {
			feats = append(feats, id)
		}
	}
	slices.Sort(feats)
	var idx []int32
	var counts []float64
	for _, j := range feats {
		if n := len(idx); n > 0 && idx[n-1] == j {
			counts[n-1]++
			continue
		}
		idx, counts = append(idx, j), append(counts, 1)
	}
	norm := 0.0
	for k, j := range idx {
		counts[k] *= b.idf[j]
		norm += counts[k] * counts[k]
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		return nil, nil
	}
	val := make([]float32, len(idx))
	for k := range idx {
		val[k] = float32(counts[k] / norm)
	}
	return idx, val
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

// tokens returns the tokens of text, lower-cased (see eachToken).
func tokens(text string) []string {
	var out []string
	eachToken(strings.ToLower(text), func(t string) { out = append(out, t) })
	return out
}

// eachToken calls emit with each token of lower-cased text, as substrings (no allocation). It
// mirrors scikit-learn's default token_pattern (?u)\b\w\w+\b, with each Han, Hiragana or Katakana
// character a token of its own.
func eachToken(s string, emit func(string)) {
	start, runes := 0, 0
	for i, r := range s {
		word := false
		switch {
		case r < utf8.RuneSelf:
			word = 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || 'A' <= r && r <= 'Z'
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana):
			if runes >= 2 {
				emit(s[start:i])
			}
			runes = 0
			_, size := utf8.DecodeRuneInString(s[i:])
			emit(s[i : i+size])
			continue
		default:
			word = unicode.IsLetter(r) || unicode.IsNumber(r)
		}
		if word {
			if runes == 0 {
				start = i
			}
			runes++
			continue
		}
		if runes >= 2 {
			emit(s[start:i])
		}
		runes = 0
	}
	if runes >= 2 {
		emit(s[start:])
	}
}

// ReadLabelledAlpaca reads a prep split (train.json / test.json): the review is the record's
// input (its instruction when input is empty) and the label its output, "1" or "0".
func ReadLabelledAlpaca(path string) (texts []string, labels []int, err error) {
	rows, err := ReadLabelledRows(path)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rows {
		texts = append(texts, r.Text)
		labels = append(labels, r.Label)
	}
	return texts, labels, nil
}
