package eval

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sentitune/sentitune/data"
)

func readAmazon(t *testing.T) (texts []string, labels []int) {
	t.Helper()
	texts, labels, err := data.Amazon()
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 1000 {
		t.Fatalf("amazon.jsonl: %d rows, want 1000", len(texts))
	}
	return texts, labels
}

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Good case, Excellent value.", []string{"good", "case", "excellent", "value"}},
		{"I'd give it 5/5 -- a+", []string{"give", "it"}},
		{"snake_case 42 x", []string{"snake_case", "42"}},
		{"Ça va très bien", []string{"ça", "va", "très", "bien"}},
		{"质量很好", []string{"质", "量", "很", "好"}},
		{"", nil},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := tokens(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("tokens(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	// The vocabulary: unigrams, then the bigrams of consecutive tokens, each once.
	b, x, _, err := buildFeatures([]string{"a great phone, great", "Phone great!"}, func(string, int, int, string) {}, false)
	if err != nil {
		t.Fatal(err)
	}
	var bigrams []string
	for _, p := range b.pairs {
		bigrams = append(bigrams, b.terms[p>>32]+" "+b.terms[p&0xffffffff])
	}
	if want := []string{"great", "phone"}; !reflect.DeepEqual(b.terms, want) {
		t.Errorf("unigrams %q, want %q", b.terms, want)
	}
	if want := []string{"great phone", "phone great"}; !reflect.DeepEqual(bigrams, want) {
		t.Errorf("bigrams %q, want %q", bigrams, want)
	}
	if x.rows != 2 || b.Features() != 4 {
		t.Errorf("%d rows, %d features; want 2 and 4", x.rows, b.Features())
	}
}

// TestBaselineMatchesSklearn trains on the golden split and compares with scikit-learn's
// TfidfVectorizer(ngram_range=(1, 2)) + LogisticRegression(C=10) (testdata/golden.py).
func TestBaselineMatchesSklearn(t *testing.T) {
	var golden struct {
		Vocabulary int       `json:"vocabulary"`
		Accuracy   float64   `json:"accuracy"`
		Objective  float64   `json:"objective"`
		Probs      []float64 `json:"probs"`
	}
	readJSONFile(t, "baseline_golden.json", &golden)
	texts, labels := readAmazon(t)
	var trX, teX []string
	var trY, teY []int
	for i := range texts {
		if i%5 == 0 {
			teX, teY = append(teX, texts[i]), append(teY, labels[i])
		} else {
			trX, trY = append(trX, texts[i]), append(trY, labels[i])
		}
	}
	b, err := TrainBaseline(trX, trY)
	if err != nil {
		t.Fatal(err)
	}
	if b.Features() != golden.Vocabulary {
		t.Errorf("vocabulary %d terms, scikit-learn %d", b.Features(), golden.Vocabulary)
	}
	preds := b.PredictAll(nil, teX, teY)
	maxDiff := 0.0
	for i, p := range preds {
		maxDiff = math.Max(maxDiff, math.Abs(p.Prob-golden.Probs[i]))
	}
	// The solver stops at ‖∇f‖ ≤ 1e-4·‖∇f(0)‖ (SciPy's golden fit at 1e-10): its objective is
	// then within ~1e-7 of the optimum, its probabilities within ~1e-3.
	if maxDiff > 1e-3 {
		t.Errorf("probabilities differ from scikit-learn by up to %g (want <= 1e-3)", maxDiff)
	}
	objective := b.Objective[len(b.Objective)-1] * BaselineC * float64(len(trX))
	if rel := math.Abs(objective-golden.Objective) / golden.Objective; rel > 1e-6 {
		t.Errorf("objective %.10g, SciPy's optimum %.10g (relative difference %.2g, want <= 1e-6)", objective, golden.Objective, rel)
	}
	m, err := Compute(preds)
	if err != nil {
		t.Fatal(err)
	}
	if m.Accuracy != golden.Accuracy {
		t.Errorf("accuracy %v, scikit-learn %v", m.Accuracy, golden.Accuracy)
	}
	t.Logf("vocabulary %d, max |Δprob| vs scikit-learn %.2g, objective %.10g vs %.10g, accuracy %.3f, %d Newton iterations",
		b.Features(), maxDiff, objective, golden.Objective, m.Accuracy, len(b.Objective)-1)

	if trX[0] == "" || trX[len(trX)-1] == "" {
		t.Error("FitBaseline emptied the caller's texts (only LoadOrFitBaseline, which owns them, may)")
	}
	// Deterministic: a second fit gives bit-identical weights.
	b2, err := TrainBaseline(trX, trY)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.weights, b2.weights) || b.intercept != b2.intercept {
		t.Error("two fits on the same data differ")
	}
}

// TestBaselineAmazonAccuracy: five seeded stratified 80/20 splits average about 0.83.
func TestBaselineAmazonAccuracy(t *testing.T) {
	texts, labels := readAmazon(t)
	sum := 0.0
	for seed := uint64(1); seed <= 5; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		var pos, neg []int
		for i, l := range labels {
			if l == 1 {
				pos = append(pos, i)
			} else {
				neg = append(neg, i)
			}
		}
		r.Shuffle(len(pos), func(i, j int) { pos[i], pos[j] = pos[j], pos[i] })
		r.Shuffle(len(neg), func(i, j int) { neg[i], neg[j] = neg[j], neg[i] })
		test := map[int]bool{}
		for _, i := range append(pos[:len(pos)/5], neg[:len(neg)/5]...) {
			test[i] = true
		}
		var trX, teX []string
		var trY, teY []int
		for i := range texts {
			if test[i] {
				teX, teY = append(teX, texts[i]), append(teY, labels[i])
			} else {
				trX, trY = append(trX, texts[i]), append(trY, labels[i])
			}
		}
		b, err := TrainBaseline(trX, trY)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Compute(b.PredictAll(nil, teX, teY))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d: accuracy %.3f", seed, m.Accuracy)
		sum += m.Accuracy
	}
	if mean := sum / 5; mean < 0.80 || mean > 0.87 {
		t.Errorf("mean accuracy over 5 splits %.3f, want about 0.83", mean)
	} else {
		t.Logf("mean accuracy over 5 splits %.3f", mean)
	}
}

func TestTrainBaselineErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		texts  []string
		labels []int
	}{
		{"empty", nil, nil},
		{"length mismatch", []string{"a b"}, []int{1, 0}},
		{"one class", []string{"good one", "great one"}, []int{1, 1}},
		{"bad label", []string{"good one", "bad one"}, []int{1, 2}},
		{"no words", []string{"!", "?"}, []int{1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := TrainBaseline(tc.texts, tc.labels); err == nil {
				t.Error("want an error")
			} else {
				t.Log(err)
			}
		})
	}
}

func readJSONFile(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
