package prep

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sentitune/sentitune/internal/task"
)

// LabelSetOf is the label set named by --labels or a K-class --label-map preset (stars3,
// stars5), as prep reads them; nil when neither names one (the data decides, else binary).
// A raw-value --label-map ("pos=1,neg=0") is prep's alone and is refused here.
func LabelSetOf(labels, labelMap string) (task.Labels, error) {
	preset := strings.ToLower(strings.TrimSpace(labelMap))
	if preset != "" && preset != LabelMapStars3 && preset != LabelMapStars5 {
		return nil, fmt.Errorf("--label-map %q: want %s or %s here (a map of raw values is prep's)", labelMap, LabelMapStars3, LabelMapStars5)
	}
	if preset == "" && strings.TrimSpace(labels) == "" {
		return nil, nil
	}
	ls, _, err := labelSet(labels, labelMap)
	return ls, err
}

// ReadLabelSet is the label set a prep folder's stats.json records: Binary when it names
// none, nil and no error when the folder has no stats.json (not made by prep).
func ReadLabelSet(dir string) (task.Labels, error) {
	path := filepath.Join(dir, FileStats)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st struct {
		LabelSet string `json:"label_set"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if st.LabelSet == "" {
		return task.Binary, nil
	}
	ls, err := task.ParseLabels(st.LabelSet)
	if err != nil {
		return nil, fmt.Errorf("%s: label_set: %w", path, err)
	}
	return ls, nil
}
