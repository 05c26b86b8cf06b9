package reports

import (
	"fmt"
	"io"
	"time"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/progress"
)

// fitBaseline reads the baseline fitted on trainPath from cacheDir, or fits it (and caches it),
// showing its phases on w: the rows featurised (a line at least every logEvery without a
// terminal), then a line per Newton iteration.
func fitBaseline(trainPath, cacheDir string, w io.Writer, logEvery time.Duration) (*eval.BaselineFit, error) {
	events := progress.New(w, progress.Options{Name: "eval: baseline", Mode: progress.Lines})
	start := time.Now()
	var rows *progress.Reporter
	fit, err := eval.LoadOrFitBaseline(trainPath, cacheDir, func(phase string, done, total int, detail string) {
		switch phase {
		case "features":
			if rows == nil {
				events.Event("fitting on %s (%d rows): TF-IDF features", trainPath, total)
				rows = progress.New(w, progress.Options{Name: "eval: baseline features", Unit: "rows", Total: int64(total), Interval: logEvery})
			}
			rows.Set(int64(done), "")
			if done == total {
				rows.Finish()
			}
		case "solver":
			events.Event("Newton iteration %d: %s", done, detail)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("eval: baseline: %w", err)
	}
	if fit.CacheErr != nil {
		events.Event("warning: the fit is not cached: %v", fit.CacheErr)
	}
	if fit.FromCache {
		events.Event("read the fit from %s (%d terms, %s)", fit.CachePath, fit.Features(), progress.FormatDuration(time.Since(start)))
	} else {
		events.Event("fitted in %s: %d terms, %d Newton iterations", progress.FormatDuration(time.Since(start)), fit.Features(), len(fit.Objective)-1)
	}
	return fit, nil
}
