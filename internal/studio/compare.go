package studio

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/reports"
)

// Folders inside a run folder that studio's jobs write.
const (
	runReport = "report" // eval on the test split
	runVal    = "val"    // eval on the validation split, for the threshold
)

// keyMetrics are a report's headline numbers (metrics.json's stable keys).
type keyMetrics struct {
	N         int      `json:"n"`
	Accuracy  float64  `json:"accuracy"`
	Precision *float64 `json:"precision"`
	Recall    *float64 `json:"recall"`
	F1        *float64 `json:"f1"`
	ROCAUC    *float64 `json:"roc_auc"`
}

// runCurves are a run's training loss and its evaluations, as [step, value] points.
type runCurves struct {
	Loss         [][2]float64 `json:"loss"`
	EvalLoss     [][2]float64 `json:"eval_loss"`
	EvalAccuracy [][2]float64 `json:"eval_accuracy"`
}

// comparedRun is one side of a comparison.
type comparedRun struct {
	Name    string      `json:"name"`
	Metrics *keyMetrics `json:"metrics"` // null until the run is evaluated
	Curves  runCurves   `json:"curves"`
}

// mcnemarReading is McNemar's test of two runs on their test predictions, and what it means.
type mcnemarReading struct {
	*eval.Comparison
	Better      string  `json:"better"` // the run right on more of the rows only one got right; "" when even
	Points      float64 `json:"points"` // its accuracy lead in percentage points
	Significant bool    `json:"significant"`
}

// comparison is the Compare view: both runs, and the test when both have test predictions.
type comparison struct {
	Runs    [2]comparedRun  `json:"runs"`
	McNemar *mcnemarReading `json:"mcnemar"`
	Why     string          `json:"why,omitempty"` // why there is no test
}

// compareRuns answers GET /api/compare?a=RUN&b=RUN.
func (s *Server) compareRuns(w http.ResponseWriter, r *http.Request) {
	names := [2]string{r.URL.Query().Get("a"), r.URL.Query().Get("b")}
	if names[0] == names[1] {
		fail(w, badRequest("compare: pick two different runs (got %q twice)", names[0]))
		return
	}
	var out comparison
	var preds [2][]eval.Prediction
	for i, name := range names {
		dir, err := s.folder(dirRuns, name)
		if err == nil {
			_, err = os.Stat(dir) // a run that is not there is a 404
		}
		if err != nil {
			fail(w, err)
			return
		}
		if out.Runs[i], preds[i], err = readComparedRun(name, dir); err != nil {
			fail(w, err)
			return
		}
	}
	out.McNemar, out.Why = testRuns(names, preds)
	reply(w, out)
}

// readComparedRun reads a run's metrics, test predictions and curves; a run not yet evaluated
// (or not yet logging) has none, which is not an error.
func readComparedRun(name, dir string) (comparedRun, []eval.Prediction, error) {
	run := comparedRun{Name: name}
	var m keyMetrics
	switch err := jsonFile(filepath.Join(dir, runReport, reports.MetricsFile), &m); {
	case err == nil:
		run.Metrics = &m
	case !errors.Is(err, fs.ErrNotExist):
		return run, nil, fmt.Errorf("run %s: %s: %w", name, reports.MetricsFile, err)
	}
	_, preds, err := readPredictionsIfAny(filepath.Join(dir, runReport, reports.PredictionsFile))
	if err != nil {
		return run, nil, fmt.Errorf("run %s: %w", name, err)
	}
	lines, err := readLog(filepath.Join(dir, finetune.FileLog))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return run, nil, err
	}
	run.Curves = curvesOf(lines)
	return run, preds, nil
}

func curvesOf(lines []finetune.LogLine) runCurves {
	c := runCurves{Loss: [][2]float64{}, EvalLoss: [][2]float64{}, EvalAccuracy: [][2]float64{}}
	for _, l := range lines {
		step := float64(l.Step)
		switch l.Split {
		case "train":
			c.Loss = append(c.Loss, [2]float64{step, l.Loss})
		case "eval":
			c.EvalLoss = append(c.EvalLoss, [2]float64{step, l.Loss})
			if l.Accuracy != nil {
				c.EvalAccuracy = append(c.EvalAccuracy, [2]float64{step, *l.Accuracy})
			}
		}
	}
	return c
}

// testRuns runs McNemar's test on the rows both runs scored, paired by id; why says what is
// missing when it cannot.
func testRuns(names [2]string, preds [2][]eval.Prediction) (*mcnemarReading, string) {
	for i, p := range preds {
		if p == nil {
			return nil, errNotEvaluated(names[i]).Error()
		}
	}
	c, err := eval.Compare(preds[0], preds[1])
	if err != nil {
		return nil, err.Error()
	}
	c.A, c.B = names[0], names[1]
	reading := &mcnemarReading{Comparison: c, Significant: c.Method != "none" && c.PValue < 0.05}
	switch {
	case c.AOnly > c.BOnly:
		reading.Better, reading.Points = c.A, 100*(c.AccuracyA-c.AccuracyB)
	case c.BOnly > c.AOnly:
		reading.Better, reading.Points = c.B, 100*(c.AccuracyB-c.AccuracyA)
	}
	return reading, ""
}

// readPredictionsIfAny reads a report's predictions.jsonl and its class names (nil: the two
// labels); no rows when there is none yet.
func readPredictionsIfAny(path string) ([]string, []eval.Prediction, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	return table.ReadClassPredictions(path, nil)
}
