package prep

import "github.com/sentitune/sentitune/internal/task"

// Labeler maps raw label values to classes exactly as prep does for --labels and --label-map:
// for a page that shows the class balance before prep runs.
type Labeler struct {
	Labels task.Labels // the classes, in class order (task.Binary by default)
	cfg    Config
	m      LabelMap
}

// NewLabeler reads --labels and --label-map as prep does.
func NewLabeler(labels, labelMap string) (Labeler, error) {
	ls, m, err := labelSet(labels, labelMap)
	if err != nil {
		return Labeler{}, err
	}
	return Labeler{Labels: ls, cfg: Config{labels: ls}, m: m}, nil
}

// Class is raw's class, or prep's error for it (ErrSkippedLabel, ErrMissingLabel, an unknown value).
func (l Labeler) Class(raw string) (int, error) { return l.cfg.normalizeLabel(raw, l.m) }
