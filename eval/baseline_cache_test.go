package eval

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

func writeTrainJSON(t *testing.T, path string, texts []string, labels []int) {
	t.Helper()
	recs := make([]task.Record, len(texts))
	for i := range texts {
		recs[i] = task.Record{Instruction: "Is this review positive? Answer 1 or 0.", Input: texts[i], Output: fmt.Sprint(labels[i])}
	}
	b, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadOrFitBaselineCache: the second call reads the first one's fit (the solver never runs)
// and scores bit-identically; a changed train.json or a damaged cache file fits anew.
func TestLoadOrFitBaselineCache(t *testing.T) {
	texts, labels := readAmazon(t)
	dir := t.TempDir()
	trainPath, cacheDir := filepath.Join(dir, "train.json"), filepath.Join(dir, ".cache")
	writeTrainJSON(t, trainPath, texts[:800], labels[:800])
	heard := map[string]int{}
	progress := func(phase string, _, _ int, _ string) { heard[phase]++ }

	first, err := LoadOrFitBaseline(trainPath, cacheDir, progress)
	if err != nil {
		t.Fatal(err)
	}
	if first.FromCache || first.CacheErr != nil || heard["solver"] == 0 || heard["features"] == 0 {
		t.Fatalf("first call: from cache %v, cache error %v, progress %v; want a fresh fit with progress", first.FromCache, first.CacheErr, heard)
	}
	if _, err := os.Stat(first.CachePath); err != nil {
		t.Fatalf("no cache file: %v", err)
	}
	clear(heard)
	second, err := LoadOrFitBaseline(trainPath, cacheDir, progress)
	if err != nil {
		t.Fatal(err)
	}
	if !second.FromCache || second.CachePath != first.CachePath || len(heard) != 0 {
		t.Fatalf("second call: from cache %v (%s), progress %v; want %s read with no fit", second.FromCache, second.CachePath, heard, first.CachePath)
	}
	if !strings.Contains(second.String(), "read from its cache") {
		t.Errorf("String() = %q, want it to say the fit was read from the cache", second.String())
	}
	a, b := first.PredictAll(nil, texts[800:], labels[800:]), second.PredictAll(nil, texts[800:], labels[800:])
	if !reflect.DeepEqual(a, b) {
		t.Error("the cached baseline scores differently from the fit that wrote it")
	}
	if first.Features() != second.Features() || !reflect.DeepEqual(first.Objective, second.Objective) || first.Rows != second.Rows {
		t.Error("the cached baseline's vocabulary, objective curve or row count differ")
	}

	t.Run("changed train.json", func(t *testing.T) {
		writeTrainJSON(t, trainPath, texts[:799], labels[:799])
		third, err := LoadOrFitBaseline(trainPath, cacheDir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if third.FromCache || third.CachePath == first.CachePath || third.Rows != 799 {
			t.Errorf("from cache %v, %s, %d rows: want a fresh fit on 799 rows under a new key", third.FromCache, third.CachePath, third.Rows)
		}
		if _, err := os.Stat(first.CachePath); !os.IsNotExist(err) {
			t.Errorf("the stale cache file %s is still there (%v)", first.CachePath, err)
		}
	})
	t.Run("damaged cache file", func(t *testing.T) {
		key, err := BaselineCacheKey(trainPath)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(cacheDir, "baseline-"+key+".gob")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, raw[:len(raw)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		fit, err := LoadOrFitBaseline(trainPath, cacheDir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fit.FromCache || fit.CacheErr == nil {
			t.Fatalf("from cache %v, cache error %v: want a fresh fit and a warning", fit.FromCache, fit.CacheErr)
		}
		t.Log(fit.CacheErr)
		again, err := LoadOrFitBaseline(trainPath, cacheDir, nil)
		if err != nil || !again.FromCache {
			t.Errorf("after the refit: from cache %v, %v; want the rewritten file read", again.FromCache, err)
		}
	})
	t.Run("cache folder cannot be made", func(t *testing.T) {
		blocker := filepath.Join(dir, "file")
		if err := os.WriteFile(blocker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		fit, err := LoadOrFitBaseline(trainPath, filepath.Join(blocker, ".cache"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if fit.CacheErr == nil || fit.CachePath != "" || fit.Baseline == nil {
			t.Errorf("cache error %v, path %q: want a fitted baseline, no cache path and a warning", fit.CacheErr, fit.CachePath)
		}
	})
}
