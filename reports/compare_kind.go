package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// reportKind is what an earlier report folder scored, from its metrics.json: "task" ("" for a
// binary report, "multiclass", "aspects") and, for a K-class report, its class names.
type reportKind struct {
	Task    string   `json:"task"`
	Classes []string `json:"labels"`
}

// String names the kind in words for an error.
func (k reportKind) String() string {
	switch k.Task {
	case "":
		return "a binary report (labels 0/1)"
	case "multiclass":
		return fmt.Sprintf("a %d-class report (%s)", len(k.Classes), strings.Join(k.Classes, ", "))
	default:
		return "a " + k.Task + " report"
	}
}

// readReportKind reads dir's metrics.json; ok is false when there is none (ReadReport then says
// what is missing).
func readReportKind(dir string) (k reportKind, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	if errors.Is(err, os.ErrNotExist) {
		return k, false, nil
	}
	if err != nil {
		return k, false, fmt.Errorf("compare %s: %w", dir, err)
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return k, false, fmt.Errorf("compare %s: %s: %w", dir, MetricsFile, err)
	}
	return k, true, nil
}

// checkComparable refuses, before any work, a --compare folder that scored another task or other
// classes than this evaluation (want): McNemar pairs rows right or wrong on the same classes.
func checkComparable(out string, want reportKind, dirs []string) error {
	for _, dir := range dirs {
		got, ok, err := readReportKind(dir)
		if err != nil {
			return err
		}
		if !ok || (got.Task == want.Task && (got.Task != "multiclass" || sameClasses(got.Classes, want.Classes))) {
			continue
		}
		return fmt.Errorf("compare %s: it is %s and this report (%s) is %s; compare reports of the same labels",
			dir, got, out, want)
	}
	return nil
}

// sameClasses reports whether a and b name the same classes (case aside) in the same order.
func sameClasses(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}
