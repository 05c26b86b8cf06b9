package eval

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/task"
)

// multinomialCodeVersion is baselineCodeVersion for the K-class fit: change it whenever the
// features, the softmax objective or its solver change.
const multinomialCodeVersion = baselineCodeVersion + "/softmax-l2-free-intercepts/lbfgs/1"

// MultinomialFit is a fitted K-class baseline and where it came from.
type MultinomialFit struct {
	*MultinomialBaseline
	TrainPath string
	Rows      int    // training rows
	CachePath string // the cache file read or written; "" when there is none
	FromCache bool   // read from CachePath: no fit ran
	// CacheErr says why the fit could not be cached or read: a warning, the fit is still good.
	CacheErr error
}

// multinomialHeader opens a K-class cache file; the features follow (writeFeatures), then each
// class's weights in chunks.
type multinomialHeader struct {
	Version    string
	Key        string
	Rows       int
	Terms      int
	Pairs      int
	Intercepts []float64
	Objective  float64
}

// MultinomialCacheKey is the cache key of a K-class baseline fitted on trainPath read with the
// label set ls: a hash of the file's bytes, the labels, the settings and the code version.
func MultinomialCacheKey(trainPath string, ls task.Labels) (string, error) {
	return cacheKey(trainPath, fmt.Sprintf("labels=%s\nC=%g tolerance=%g floor=%g\n%s\n", ls,
		BaselineC, multinomialGradTol, multinomialGradFloor, multinomialCodeVersion))
}

// LoadOrFitMultinomialBaseline is LoadOrFitBaseline for a K-class prep split of the label set ls:
// it reads cacheDir/multinomial-KEY.gob when an earlier fit on the same bytes and labels left it
// there, else fits (FitMultinomialBaseline) and writes that file atomically, removing older
// multinomial-*.gob files beside it. cacheDir "" disables the cache.
func LoadOrFitMultinomialBaseline(trainPath, cacheDir string, ls task.Labels) (*MultinomialFit, error) {
	fit := &MultinomialFit{TrainPath: trainPath}
	var key string
	if cacheDir != "" {
		var err error
		if key, err = MultinomialCacheKey(trainPath, ls); err != nil {
			return nil, err
		}
		fit.CachePath = filepath.Join(cacheDir, "multinomial-"+key+".gob")
		m, rows, err := readMultinomialFile(fit.CachePath, key, len(ls))
		if err == nil {
			fit.MultinomialBaseline, fit.Rows, fit.FromCache = m, rows, true
			return fit, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			fit.CacheErr = fmt.Errorf("unreadable, fitting anew: %w", err)
		}
	}
	train, err := ReadLabelledRowsOf(trainPath, ls)
	if err != nil {
		return nil, err
	}
	texts, labels := make([]string, len(train)), make([]int, len(train))
	for i, r := range train {
		texts[i], labels[i] = r.Text, r.Label
	}
	fit.Rows = len(train)
	if fit.MultinomialBaseline, err = FitMultinomialBaseline(texts, labels, len(ls)); err != nil {
		return nil, fmt.Errorf("%s: %w", trainPath, err)
	}
	if cacheDir == "" {
		return fit, nil
	}
	if err := writeMultinomialFile(fit.CachePath, key, fit.Rows, fit.MultinomialBaseline); err != nil {
		fit.CacheErr, fit.CachePath = err, ""
		return fit, nil
	}
	removeOlderFits(cacheDir, "multinomial-*.gob", fit.CachePath)
	return fit, nil
}

func writeMultinomialFile(path, key string, rows int, m *MultinomialBaseline) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b := m.features
	h := multinomialHeader{Version: multinomialCodeVersion, Key: key, Rows: rows, Terms: len(b.terms), Pairs: len(b.pairs),
		Intercepts: m.intercepts, Objective: m.Objective}
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := gob.NewEncoder(w)
		if err := enc.Encode(&h); err != nil {
			return err
		}
		if err := writeFeatures(enc, b); err != nil {
			return err
		}
		for _, wc := range m.weights {
			if err := encodeChunks(enc, wc); err != nil {
				return err
			}
		}
		return nil
	})
}

// readMultinomialFile reads a K-class fit of k classes and its training row count.
func readMultinomialFile(path, key string, k int) (*MultinomialBaseline, int, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer r.Close()
	dec := gob.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	var h multinomialHeader
	if err := dec.Decode(&h); err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	if h.Version != multinomialCodeVersion || h.Key != key {
		return nil, 0, fmt.Errorf("read %s: written for %s/%s, want %s/%s", path, h.Version, h.Key, multinomialCodeVersion, key)
	}
	if len(h.Intercepts) != k {
		return nil, 0, fmt.Errorf("read %s: %d classes, want %d", path, len(h.Intercepts), k)
	}
	b, err := readFeatures(dec, h.Terms, h.Pairs)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	m := &MultinomialBaseline{features: b, intercepts: h.Intercepts, Objective: h.Objective}
	for c := range k {
		wc, err := decodeChunks[float64](dec, b.Features())
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: class %d: %w", path, c, err)
		}
		m.weights = append(m.weights, wc)
	}
	return m, h.Rows, nil
}
