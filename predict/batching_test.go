package predict

import (
	"reflect"
	"slices"
	"testing"
)

// rowsOfLength returns ids of the given lengths and their order (already ascending).
func rowsOfLength(lengths ...int) ([][]int, []int) {
	ids := make([][]int, len(lengths))
	order := make([]int, len(lengths))
	for i, n := range lengths {
		ids[i], order[i] = make([]int, n), i
	}
	return ids, order
}

func TestBatchesTokenBudget(t *testing.T) {
	for _, c := range []struct {
		name               string
		lengths            []int
		maxRows, maxTokens int
		want               [][]int
	}{
		{"short rows fill --batch-size", []int{100, 100, 100, 100, 100, 120}, 4, 2048, [][]int{{0, 1, 2, 3}, {4, 5}}},
		{"long rows form smaller batches", []int{10, 10, 300, 300, 300, 300, 600, 1000}, 4, 1024,
			[][]int{{0, 1, 2}, {3, 4, 5}, {6}, {7}}},
		{"a row over the budget goes alone", []int{5000}, 16, 2048, [][]int{{0}}},
		{"16 rows of 512 at 2048 tokens: 4 per pass", slices.Repeat([]int{512}, 16), 16, DefaultBatchTokens,
			[][]int{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}, {12, 13, 14, 15}}},
		{"no rows", nil, 16, 2048, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ids, order := rowsOfLength(c.lengths...)
			got := batches(ids, order, c.maxRows, c.maxTokens)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("batches %v, want %v", got, c.want)
			}
		})
	}
}

// BenchmarkLongReviews scores 32 reviews of 400-512 prompt tokens on the small preset with 16
// rows per pass (the old default) and with the default token budget (4 rows of 512 per pass):
// go test ./predict -run '^$' -bench LongReviews -benchtime 2x
func BenchmarkLongReviews(b *testing.B) {
	sc := newTinyScorer(b, ScorerConfig{ModelDir: presetModel(b, "small"), MaxLen: 512})
	var texts []string
	for _, t := range imdbLikeTexts(b, 4096, 7) {
		if ids, err := sc.encode(cleanText(t)); err == nil && len(ids) >= 400 && len(texts) < 32 {
			texts = append(texts, t)
		}
	}
	if len(texts) < 32 {
		b.Fatalf("only %d long reviews", len(texts))
	}
	for _, c := range []struct {
		name   string
		tokens int
	}{{"rows-16", 1 << 30}, {"token-budget-2048", DefaultBatchTokens}} {
		b.Run(c.name, func(b *testing.B) {
			sc.batchSize, sc.batchTokens = DefaultBatchSize, c.tokens
			for b.Loop() {
				if _, err := sc.Score(texts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(texts)*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
