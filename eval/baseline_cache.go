package eval

import (
	"bufio"
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
const baselineCodeVersion = "tfidf-word-1-2-l2/logreg-l2-free-intercept/tron-pcg/4"

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

// baselineHeader opens the cache file (encoding/gob); the terms follow, then the bigram pairs,
// idf and weights in chunks of baselineChunk values, so that neither writing nor reading holds a
// second copy of the model (one gob message of 60 MB is buffered whole).
type baselineHeader struct {
	Version   string
	Key       string
	Rows      int
	Terms     int
	Pairs     int
	Intercept float64
	Objective []float64
}

const baselineChunk = 1 << 16

// BaselineCacheKey is the cache key of a baseline fitted on trainPath: a hash of the file's bytes,
// the settings and the code version.
func BaselineCacheKey(trainPath string) (string, error) {
	return cacheKey(trainPath, fmt.Sprintf("C=%g tolerance=%g\n%s\n", BaselineC, baselineTolerance, baselineCodeVersion))
}

// cacheKey hashes trainPath's bytes with settings (each fit's own line of settings and code version).
func cacheKey(trainPath, settings string) (string, error) {
	fileHash, err := filehash.SHA256(trainPath)
	if err != nil {
		return "", fmt.Errorf("baseline cache: %w", err)
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s\n%s", fileHash, settings))
	return hex.EncodeToString(h[:8]), nil
}

// removeOlderFits removes the cache files cacheDir/pattern but keep: fits of an older train.json,
// label set or code version, never read again.
func removeOlderFits(cacheDir, pattern, keep string) {
	if old, err := filepath.Glob(filepath.Join(cacheDir, pattern)); err == nil {
		for _, p := range old {
			if p != keep {
				os.Remove(p)
			}
		}
	}
}

// LoadOrFitBaseline returns the baseline fitted on the prep split trainPath (see
// ReadLabelledAlpaca), reading it from cacheDir/baseline-KEY.gob when an earlier fit on the same
// bytes with the same settings left it there, else fitting it and writing that file atomically
// (and removing older baseline-*.gob files beside it). cacheDir "" disables the cache.
func LoadOrFitBaseline(trainPath, cacheDir string, progress BaselineProgress) (*BaselineFit, error) {
	defer tightGC()()
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
	removeOlderFits(cacheDir, "baseline-*.gob", fit.CachePath)
	return fit, nil
}

func writeBaselineFile(path, key string, b *Baseline) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	h := baselineHeader{Version: baselineCodeVersion, Key: key, Rows: b.Rows, Terms: len(b.terms), Pairs: len(b.pairs),
		Intercept: b.intercept, Objective: b.Objective}
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := gob.NewEncoder(w)
		if err := enc.Encode(&h); err != nil {
			return err
		}
		if err := writeFeatures(enc, b); err != nil {
			return err
		}
		return encodeChunks(enc, b.weights)
	})
}

// writeFeatures writes b's vocabulary and idf: the terms, then the bigram pairs and idf in chunks.
func writeFeatures(enc *gob.Encoder, b *Baseline) error {
	if err := enc.Encode(b.terms); err != nil {
		return err
	}
	if err := encodeChunks(enc, b.pairs); err != nil {
		return err
	}
	return encodeChunks(enc, b.idf)
}

func encodeChunks[T any](enc *gob.Encoder, xs []T) error {
	for lo := 0; lo < len(xs); lo += baselineChunk {
		if err := enc.Encode(xs[lo:min(lo+baselineChunk, len(xs))]); err != nil {
			return err
		}
	}
	return nil
}

// decodeChunks reads n values written by encodeChunks.
func decodeChunks[T any](dec *gob.Decoder, n int) ([]T, error) {
	out := make([]T, 0, n)
	for len(out) < n {
		var chunk []T
		if err := dec.Decode(&chunk); err != nil {
			return nil, err
		}
		if len(chunk) == 0 || len(out)+len(chunk) > n {
			return nil, fmt.Errorf("a chunk of %d values after %d of %d", len(chunk), len(out), n)
		}
		out = append(out, chunk...)
	}
	return out, nil
}

func readBaselineFile(path, key string) (*Baseline, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	dec := gob.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	var h baselineHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if h.Version != baselineCodeVersion || h.Key != key {
		return nil, fmt.Errorf("read %s: written for %s/%s, want %s/%s", path, h.Version, h.Key, baselineCodeVersion, key)
	}
	b, err := readFeatures(dec, h.Terms, h.Pairs)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	b.intercept, b.Objective, b.Rows = h.Intercept, h.Objective, h.Rows
	if b.weights, err = decodeChunks[float64](dec, b.Features()); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// readFeatures reads what writeFeatures wrote (terms unigrams, pairs bigrams) and rebuilds the
// term and pair indexes.
func readFeatures(dec *gob.Decoder, terms, pairs int) (*Baseline, error) {
	if terms <= 0 || pairs < 0 {
		return nil, fmt.Errorf("%d terms, %d pairs", terms, pairs)
	}
	b := &Baseline{}
	if err := dec.Decode(&b.terms); err != nil {
		return nil, err
	}
	if len(b.terms) != terms {
		return nil, fmt.Errorf("%d terms, the header says %d", len(b.terms), terms)
	}
	var err error
	if b.pairs, err = decodeChunks[uint64](dec, pairs); err != nil {
		return nil, err
	}
	if b.idf, err = decodeChunks[float64](dec, terms+pairs); err != nil {
		return nil, err
	}
	b.unigrams, b.bigrams = make(map[string]int32, len(b.terms)), make(map[uint64]int32, len(b.pairs))
	for i, t := range b.terms {
		b.unigrams[t] = int32(i)
	}
	for i, p := range b.pairs {
		if int(p>>32) >= len(b.terms) || int(p&0xffffffff) >= len(b.terms) {
			return nil, fmt.Errorf("bigram %d names unigram %d/%d of %d", i, p>>32, p&0xffffffff, len(b.terms))
		}
		b.bigrams[p] = int32(len(b.terms) + i)
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
