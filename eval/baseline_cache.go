package eval

import (
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/filehash"
)

// baselineCodeVersion names what a cached fit depends on besides the data: change it whenever
// the features, the objective or the solver change, so that no older fit is read as current.
const baselineCodeVersion = "tfidf-word-1-2-l2/logreg-l2-free-intercept/tron-pcg/3"

// BaselineFit is a fitted baseline and where it came from.
type BaselineFit struct {
	*Baseline
	TrainPath string
	CachePath string // the cache file read or written; "" when there is none
	FromCache bool   // read from CachePath: no fit ran
	// CacheErr says why the fit could not be cached (a read-only prep folder, a full disk): the
	// fit is still good, so this is a warning for the caller to show, not a failure.
	CacheErr error
}

// baselineFile is the cache file's content (encoding/gob).
type baselineFile struct {
	Version   string
	Key       string
	Rows      int
	Terms     []string
	Pairs     []uint64
	IDF       []float64
	Weights   []float64
	Intercept float64
	Objective []float64
}

// BaselineCacheKey is the cache key of a baseline fitted on trainPath: a hash of the file's bytes,
// the settings and the code version.
func BaselineCacheKey(trainPath string) (string, error) {
	fileHash, err := filehash.SHA256(trainPath)
	if err != nil {
		return "", fmt.Errorf("baseline cache: %w", err)
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s\nC=%g tolerance=%g\n%s\n", fileHash, BaselineC, baselineTolerance, baselineCodeVersion))
	return hex.EncodeToString(h[:8]), nil
}

// LoadOrFitBaseline returns the baseline fitted on the prep split trainPath (see
// ReadLabelledAlpaca), reading it from cacheDir/baseline-KEY.gob when an earlier fit on the same
// bytes with the same settings left it there, else fitting it and writing that file atomically
// (and removing older baseline-*.gob files beside it). cacheDir "" disables the cache.
func LoadOrFitBaseline(trainPath, cacheDir string, progress BaselineProgress) (*BaselineFit, error) {
	fit := &BaselineFit{TrainPath: trainPath}
	var key string
	if cacheDir != "" {
		var err error
		if key, err = BaselineCacheKey(trainPath); err != nil {
			return nil, err
		}
		fit.CachePath = filepath.Join(cacheDir, "baseline-"+key+".gob")
		if b, err := readBaselineFile(fit.CachePath, key); err == nil {
			fit.Baseline, fit.FromCache = b, true
			return fit, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			fit.CacheErr = fmt.Errorf("unreadable, fitting anew: %w", err)
		}
	}
	texts, labels, err := ReadLabelledAlpaca(trainPath)
	if err != nil {
		return nil, err
	}
	if fit.Baseline, err = fitBaseline(texts, labels, progress, true); err != nil { // texts are ours: let them go
		return nil, fmt.Errorf("%s: %w", trainPath, err)
	}
	if cacheDir == "" {
		return fit, nil
	}
	if err := writeBaselineFile(fit.CachePath, key, fit.Baseline); err != nil {
		fit.CacheErr, fit.CachePath = err, ""
		return fit, nil
	}
	if old, err := filepath.Glob(filepath.Join(cacheDir, "baseline-*.gob")); err == nil {
		for _, p := range old {
			if p != fit.CachePath {
				os.Remove(p) // a fit of an older train.json or code version: never read again
			}
		}
	}
	return fit, nil
}

func writeBaselineFile(path, key string, b *Baseline) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f := baselineFile{Version: baselineCodeVersion, Key: key, Rows: b.Rows, Terms: b.terms, Pairs: b.pairs,
		IDF: b.idf, Weights: b.weights, Intercept: b.intercept, Objective: b.Objective}
	return atomicfile.Write(path, func(w io.Writer) error { return gob.NewEncoder(w).Encode(&f) })
}

func readBaselineFile(path, key string) (*Baseline, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var f baselineFile
	if err := gob.NewDecoder(r).Decode(&f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	dim := len(f.Terms) + len(f.Pairs)
	switch {
	case f.Version != baselineCodeVersion || f.Key != key:
		return nil, fmt.Errorf("read %s: written for %s/%s, want %s/%s", path, f.Version, f.Key, baselineCodeVersion, key)
	case len(f.IDF) != dim || len(f.Weights) != dim || len(f.Terms) == 0:
		return nil, fmt.Errorf("read %s: %d terms, %d pairs, %d idf, %d weights do not fit together", path, len(f.Terms), len(f.Pairs), len(f.IDF), len(f.Weights))
	}
	b := &Baseline{unigrams: make(map[string]int32, len(f.Terms)), bigrams: make(map[uint64]int32, len(f.Pairs)),
		terms: f.Terms, pairs: f.Pairs, idf: f.IDF, weights: f.Weights, intercept: f.Intercept, Objective: f.Objective, Rows: f.Rows}
	for i, t := range f.Terms {
		b.unigrams[t] = int32(i)
	}
	for i, p := range f.Pairs {
		if int(p>>32) >= len(f.Terms) || int(p&0xffffffff) >= len(f.Terms) {
			return nil, fmt.Errorf("read %s: bigram %d names unigram %d/%d of %d", path, i, p>>32, p&0xffffffff, len(f.Terms))
		}
		b.bigrams[p] = int32(len(f.Terms) + i)
	}
	return b, nil
}

// String says in a few words where the fit came from, for logs and report provenance.
func (f *BaselineFit) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "TF-IDF word+bigram logistic regression (C=%g, %d terms) trained on %s (%d rows)", BaselineC, f.Features(), f.TrainPath, f.Rows)
	switch {
	case f.FromCache:
		fmt.Fprintf(&s, ", read from its cache %s", f.CachePath)
	case f.CachePath != "":
		fmt.Fprintf(&s, ", cached in %s", f.CachePath)
	}
	return s.String()
}
