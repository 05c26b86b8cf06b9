package pipeline

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/eval/scoring"
	"github.com/sentitune/sentitune/reports"
)

// runClassEval is the eval stage of a K-class run (run --labels, --label-map stars3|stars5): the
// K-class metrics and report, the multinomial TF-IDF baseline from the prep folder.
func runClassEval(cfg Config, res *Result, scored *scoring.Result, baseline string, w io.Writer) error {
	in, err := reports.RunClassEval(scored.Predictions, scored.Classes, eval.OrderedScale(scored.Classes), reports.EvalConfig{
		Out:         res.ReportDir,
		Title:       "sentitune run — " + filepath.Base(filepath.Clean(cfg.Out)),
		Name:        "LoRA-tuned model",
		BaselineDir: baseline,
		RunDir:      res.RunDir,
		Note:        cfg.Note,
		Progress:    w,
		Provenance:  scored.Provenance,
	})
	if err != nil {
		return err
	}
	res.Classes = in
	fmt.Fprint(indent{w}, reports.ClassSummary(in))
	return nil
}
