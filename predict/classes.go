package predict

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/task"
)

// adapterClasses is the label set of cfg's adapter (or merged model) when it has more than the
// binary two (read from its sentitune.json before the model loads, so the input's labels are
// checked first).
func adapterClasses(cfg ScorerConfig) (task.Labels, error) {
	dir := cfg.AdapterDir
	if dir == "" {
		var err error
		if dir, err = hub.ResolveModel(cfg.ModelDir); err != nil {
			return nil, nil // NewScorer says why
		}
	}
	meta, err := task.ReadOptionalMeta(dir)
	if err != nil || meta == nil {
		return nil, err
	}
	ls, err := meta.LabelSet()
	if err != nil {
		return nil, fmt.Errorf("predict: %s: %w", dir, err)
	}
	if ls.IsBinary() {
		return nil, nil
	}
	return ls, nil
}

// classNames are the class names a predictions file carries (table.Columns.Classes) for the
// scorer described by info: nil for the binary task. read is what the adapter's file said.
func classNames(info Info, read task.Labels) ([]string, error) {
	if info.Labels == "" {
		if read != nil {
			return nil, fmt.Errorf("predict: adapter %s has the labels %s, the scorer scores two", info.Adapter, read)
		}
		return nil, nil
	}
	ls, err := task.ParseLabels(info.Labels)
	if err != nil {
		return nil, fmt.Errorf("predict: scorer labels: %w", err)
	}
	if read != nil && read.String() != ls.String() {
		return nil, fmt.Errorf("predict: adapter %s has the labels %s, the scorer %s", info.Adapter, read, ls)
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return names, nil
}

// count adds one prediction to the run's tally: no answer, a class of K, or binary positives.
func (s *Stats) count(pred int) {
	switch {
	case pred == NoAnswer:
		s.NoAnswer++
	case s.classNames != nil:
		s.Classes[s.classNames[pred]]++
	default:
		s.Positive += pred
	}
}

// classCounts is the summary line of a K-class run: each class's rows and share, in class order.
func (s *Stats) classCounts() string {
	names := s.classNames
	if names == nil { // read back from JSON: no order kept
		for n := range s.Classes {
			names = append(names, n)
		}
		slices.Sort(names)
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d (%.1f%%)", n, s.Classes[n], 100*float64(s.Classes[n])/float64(max(s.Rows, 1)))
	}
	return strings.Join(parts, ", ")
}

// Labels is the scorer's label set: task.Binary, or the K classes its adapter was trained on.
func (sc *Scorer) Labels() task.Labels { return sc.labels }
