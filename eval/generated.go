package eval

import (
	"fmt"
	"strings"

	"github.com/sentitune/sentitune/internal/table"
)

// ScoreUnanswered makes every generated row whose reply held no answer (Pred is table.NoAnswer)
// an error: its pred becomes the class it is not, so accuracy and the error lists count it as the
// wrong answer it is. It returns those rows' ids.
func ScoreUnanswered(preds []Prediction) []string {
	var ids []string
	for i := range preds {
		if p := &preds[i]; p.Pred == table.NoAnswer && (p.Label == 0 || p.Label == 1) {
			p.Pred = 1 - p.Label
			ids = append(ids, p.ID)
		}
	}
	return ids
}

// UnansweredNote is the report's line about them: how many, and the first few ids.
func UnansweredNote(ids []string, n int) string {
	shown := ids[:min(len(ids), 10)]
	more := ""
	if len(ids) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(ids)-len(shown))
	}
	return fmt.Sprintf("%d of %d generations held no answer (no 1/0 or label word) and are counted as errors: ids %s%s",
		len(ids), n, strings.Join(shown, ", "), more)
}
