package eval

import (
	"math"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/table"
)

func TestScoreUnanswered(t *testing.T) {
	preds := []Prediction{
		{ID: "a", Label: 1, Pred: 1, Prob: math.NaN()},
		{ID: "b", Label: 1, Pred: table.NoAnswer, Prob: math.NaN()},
		{ID: "c", Label: 0, Pred: table.NoAnswer, Prob: math.NaN()},
		{ID: "d", Label: 0, Pred: 0, Prob: math.NaN()},
	}
	ids := ScoreUnanswered(preds)
	if strings.Join(ids, ",") != "b,c" {
		t.Fatalf("unanswered ids %v, want b,c", ids)
	}
	m, err := Compute(preds)
	if err != nil {
		t.Fatal(err)
	}
	if m.Accuracy != 0.5 || m.FN != 1 || m.FP != 1 {
		t.Errorf("accuracy %g, fn %d, fp %d; want the two unanswered rows as errors (0.5, 1, 1)", m.Accuracy, m.FN, m.FP)
	}
	if note := UnansweredNote(ids, len(preds)); !strings.Contains(note, "2 of 4 generations held no answer") || !strings.Contains(note, "ids b, c") {
		t.Errorf("note: %s", note)
	}
}
