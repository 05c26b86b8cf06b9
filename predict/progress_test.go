package predict

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRunLogLines: with stderr not a terminal, predict writes a plain line per interval
// (here every window) with the count, rows/s, elapsed time and ETA.
func TestRunLogLines(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 30)
	var log bytes.Buffer
	cfg := Config{Input: in, Out: filepath.Join(dir, "o.csv"), Window: 10, Log: &log, LogInterval: time.Nanosecond}
	if _, err := run(cfg, fakeLoader(&fakeScorer{})); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^predict: (\d+)/30 rows \(\d+\.\d%\), \d+\.\d rows/s, elapsed [0-9.hms]+, ETA [0-9.hms]+$`)
	var counts []string
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q does not match %v", l, re)
		}
		counts = append(counts, m[1])
	}
	if strings.Join(counts, ",") != "10,20,30" {
		t.Errorf("lines at rows %v, want one per window of 10", counts)
	}
}
