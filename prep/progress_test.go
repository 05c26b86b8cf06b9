package prep

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sentitune/sentitune/data"
)

// TestRunLogLines: with stderr not a terminal, prep reports reading (bytes) and tokenizing
// (rows) as plain lines; here the interval is tiny so every update writes one.
func TestRunLogLines(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "amazon.jsonl")
	if err := os.WriteFile(in, data.AmazonJSONL(), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cfg := Config{Input: in, TestRatio: 0.2, Seed: 42, Tokenizer: wordEncoder{}, Out: filepath.Join(dir, "prep"),
		Progress: &log, LogEvery: time.Nanosecond}
	if _, err := Run(cfg); err != nil {
		t.Fatal(err)
	}
	size := len(data.AmazonJSONL())
	reading := regexp.MustCompile(`^prep: reading: [0-9.]+ (B|KiB)/[0-9.]+ KiB \((\d+\.\d)%\), [0-9.]+ [KMG]?i?B/s, elapsed [0-9.hms]+, ETA [0-9.hms?]+$`)
	tokenizing := regexp.MustCompile(`^prep: tokenizing (train|test): (\d+)/(\d+) rows \(\d+\.\d%\), [0-9.]+ rows/s, elapsed [0-9.hms]+, ETA [0-9.hms?]+$`)
	var lastRead string
	done := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if m := reading.FindStringSubmatch(l); m != nil {
			lastRead = m[2]
		} else if m := tokenizing.FindStringSubmatch(l); m != nil {
			if m[2] == m[3] {
				done[m[1]+" "+m[3]] = true
			}
		} else {
			t.Errorf("unexpected line %q", l)
		}
	}
	if lastRead != "100.0" {
		t.Errorf("the reading lines of a %d-byte file end at %s%%, want 100.0%%:\n%s", size, lastRead, log.String())
	}
	if !done["train 800"] || !done["test 200"] {
		t.Errorf("tokenizing lines do not reach 800/800 train and 200/200 test rows: %v\n%s", done, log.String())
	}
}
