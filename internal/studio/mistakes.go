package studio

import (
	"cmp"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/reports"
)

// mistake is a test row the run got wrong, with how sure it was of its wrong answer.
type mistake struct {
	ID         string  `json:"id"`
	Text       string  `json:"text"`
	Label      int     `json:"label"`
	Pred       int     `json:"pred"`
	Prob       float64 `json:"prob"`       // P(label = 1); with K classes P(pred)
	Confidence float64 `json:"confidence"` // the probability of the predicted class
}

// mistakesReply is the Mistakes view: the most confident wrong rows of the test split.
type mistakesReply struct {
	N       int       `json:"n"`     // test rows
	Wrong   int       `json:"wrong"` // of which wrong
	Shown   []mistake `json:"rows"`
	NoProb  bool      `json:"no_prob"` // the predictions carry no probability: listed in file order
	Classes []string  `json:"classes"` // label and pred's class names in class order; null for the two labels
}

// maxMistakes bounds ?n=: a page of rows, not the whole split.
const maxMistakes = 500

// mistakes answers GET /api/runs/{name}/mistakes?n=N from the run's test predictions.
func (s *Server) mistakes(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir, err := s.folder(dirRuns, name)
	if err != nil {
		fail(w, err)
		return
	}
	n := 20
	if q := r.URL.Query().Get("n"); q != "" {
		if n, err = strconv.Atoi(q); err != nil || n < 1 || n > maxMistakes {
			fail(w, badRequest("n=%q: want a count from 1 to %d", q, maxMistakes))
			return
		}
	}
	classes, preds, err := readPredictionsIfAny(filepath.Join(dir, runReport, reports.PredictionsFile))
	if err != nil {
		fail(w, err)
		return
	}
	if preds == nil {
		fail(w, httpError{http.StatusNotFound, errNotEvaluated(name)})
		return
	}
	out := mostConfidentMistakes(preds, n)
	out.Classes = classes
	reply(w, out)
}

// mostConfidentMistakes lists the n wrong rows with the highest confidence in their prediction,
// P(pred) (ties in file order).
func mostConfidentMistakes(preds []eval.Prediction, n int) mistakesReply {
	out := mistakesReply{N: len(preds), Shown: []mistake{}}
	for _, p := range preds {
		if p.Pred == p.Label {
			continue
		}
		out.Wrong++
		m := mistake{ID: p.ID, Text: p.Text, Label: p.Label, Pred: p.Pred, Prob: p.Prob, Confidence: p.Prob}
		switch {
		case p.Pred >= 0 && p.Pred < len(p.Probs): // K classes
			m.Prob, m.Confidence = p.Probs[p.Pred], p.Probs[p.Pred]
		case !p.HasProb():
			out.NoProb, m.Prob, m.Confidence = true, 0, 0
		case p.Pred == 0:
			m.Confidence = 1 - p.Prob
		}
		out.Shown = append(out.Shown, m)
	}
	slices.SortStableFunc(out.Shown, func(a, b mistake) int { return cmp.Compare(b.Confidence, a.Confidence) })
	out.Shown = out.Shown[:min(n, len(out.Shown))]
	return out
}
