package prep

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sentitune/sentitune/internal/task"
)

// Presets of --label-map that name K classes (the label set) as well as the raw values.
const (
	LabelMapStars5 = "stars5" // 1–5 stars as five classes answered 1–5
	LabelMapStars3 = "stars3" // 1–2 stars negative, 3 neutral, 4–5 positive, answered 0/1/2
)

// labelSet returns the task's label set and the map from raw values to classes: binary (the
// built-in values and ParseLabelMap) unless --labels or --label-map stars5|stars3 names K classes.
func labelSet(labels, labelMap string) (task.Labels, LabelMap, error) {
	preset := strings.ToLower(strings.TrimSpace(labelMap))
	switch {
	case (preset == LabelMapStars5 || preset == LabelMapStars3) && strings.TrimSpace(labels) != "":
		return nil, nil, fmt.Errorf("--label-map %s sets the labels itself; drop --labels", preset)
	case preset == LabelMapStars5:
		return task.Stars5, LabelMap{"1": 0, "2": 1, "3": 2, "4": 3, "5": 4}, nil
	case preset == LabelMapStars3:
		return task.Stars3, LabelMap{"1": 0, "2": 0, "3": 1, "4": 2, "5": 2}, nil
	case strings.TrimSpace(labels) == "":
		m, err := ParseLabelMap(labelMap)
		return task.Binary, m, err
	}
	ls, err := task.ParseLabels(labels)
	if err != nil {
		return nil, nil, fmt.Errorf("--labels: %w", err)
	}
	m := LabelMap{}
	for i, l := range ls {
		m[labelKey(l.Name)], m[labelKey(l.Answer)] = i, i
	}
	if err := addClassMap(m, ls, labelMap); err != nil {
		return nil, nil, err
	}
	return ls, m, nil
}

// addClassMap adds --label-map's "raw=NAME|ANSWER|skip" entries for a K-class label set.
func addClassMap(m LabelMap, ls task.Labels, spec string) error {
	if strings.TrimSpace(spec) == "" {
		return nil
	}
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return fmt.Errorf("label map %q: want value=LABEL or value=skip, got %q", spec, part)
		}
		class, found := Skip, strings.EqualFold(v, "skip")
		for i, l := range ls {
			if strings.EqualFold(v, l.Name) || v == l.Answer {
				class, found = i, true
			}
		}
		if !found {
			return fmt.Errorf("label map %q: %q maps to %q, which is none of --labels %s (or skip)", spec, k, v, ls)
		}
		m[labelKey(k)] = class
	}
	return nil
}

// classOf maps a raw label to its class in a K-class set: only m's values count (no built-in
// binary words, no star-rating guess).
func classOf(raw string, m LabelMap) (int, error) {
	k := labelKey(raw)
	if k == "" {
		return 0, ErrMissingLabel
	}
	v, ok := m[k]
	switch {
	case !ok:
		return 0, fmt.Errorf("%w %q (known: %s)", ErrUnknownLabel, raw, m)
	case v == Skip:
		return 0, fmt.Errorf("%w: %q", ErrSkippedLabel, raw)
	}
	return v, nil
}

// normalizeLabel maps a raw label to its class: the binary rules, or classOf for K classes.
func (cfg Config) normalizeLabel(raw string, m LabelMap) (int, error) {
	if cfg.labels == nil || cfg.labels.IsBinary() {
		return NormalizeLabel(raw, m)
	}
	return classOf(raw, m)
}

// needTwoClasses refuses a K-class input whose kept rows hold fewer than two classes.
func needTwoClasses(input string, ls task.Labels, counts []int) error {
	var present []string
	for i, n := range counts {
		if n > 0 {
			present = append(present, ls[i].Name)
		}
	}
	if len(present) < 2 {
		return fmt.Errorf("prep: %s: every kept row is %s; a classifier needs at least two of %s", input, strings.Join(present, ""), ls)
	}
	return nil
}

// labelSetText is stats.json's label_set: empty for the binary task.
func labelSetText(ls task.Labels) string {
	if ls == nil || ls.IsBinary() {
		return ""
	}
	return ls.String()
}

// countsText renders a split's label counts: "1: n  0: m" for the binary task as before,
// else every answer in order.
func countsText(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 2 && keys[0] == "0" && keys[1] == "1" {
		keys[0], keys[1] = "1", "0"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, counts[k])
	}
	return strings.Join(parts, "  ")
}
