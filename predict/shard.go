package predict

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/table"
)

// Shard selects the Index-th (from 0) of Count contiguous slices of an input
// file. The zero Shard is the whole file.
//
// Slices are cut on blocks of rows (Config.ShardBlock, by default
// DefaultWindow rows), not on scoring windows: with R data rows the file has
// ceil(R/B) blocks, and shard I gets blocks [I·nb/N, (I+1)·nb/N). The
// partition depends only on R, B and N, so one shard can be re-run with
// another --window and still tile the file. Scoring windows stay aligned to
// multiples of the window from the start of the file, so when the window
// divides the block (the default: both 4096) every row is scored in exactly
// the batch an unsharded run puts it in, and merged outputs equal an
// unsharded output byte for byte. Each shard output has a manifest beside it
// (shardManifest) that merge checks.
type Shard struct {
	Index, Count int
}

// ParseShard parses "I/N" with 0 ≤ I < N (Kubernetes' JOB_COMPLETION_INDEX and
// a Slurm array started at 0 give I directly).
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Shard{}, fmt.Errorf("--shard %q: want I/N, e.g. 0/8 for the first of 8 slices", s)
	}
	idx, err1 := strconv.Atoi(strings.TrimSpace(i))
	cnt, err2 := strconv.Atoi(strings.TrimSpace(n))
	if err1 != nil || err2 != nil || cnt < 1 || idx < 0 || idx >= cnt {
		return Shard{}, fmt.Errorf("--shard %q: want I/N with 0 ≤ I < N (I counts from 0)", s)
	}
	return Shard{Index: idx, Count: cnt}, nil
}

// Whole reports whether the shard is the whole file.
func (s Shard) Whole() bool { return s.Count <= 1 }

func (s Shard) String() string {
	if s.Count == 0 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// rows returns the 1-based, inclusive range of data rows of the shard in a
// file of total rows cut into blocks of block rows; first > last when the
// shard is empty (more shards than blocks).
func (s Shard) rows(total, block int) (first, last int) {
	if s.Whole() {
		return 1, total
	}
	nb := (total + block - 1) / block
	b0 := s.Index * nb / s.Count
	b1 := (s.Index + 1) * nb / s.Count
	first = b0*block + 1
	last = min(b1*block, total)
	return first, last
}

// ShardPath names shard I of N's output: preds.csv → preds-00003-of-00008.csv.
func ShardPath(out string, s Shard) string {
	ext := filepath.Ext(out)
	return fmt.Sprintf("%s-%05d-of-%05d%s", strings.TrimSuffix(out, ext), s.Index, s.Count, ext)
}

var shardNameRE = regexp.MustCompile(`^-(\d{5,})-of-(\d{5,})$`)

// FindShards lists the shard outputs of out (ShardPath names beside it) in
// shard order, and checks that they form one complete set.
func FindShards(out string) ([]string, error) {
	ext := filepath.Ext(out)
	stem := strings.TrimSuffix(out, ext)
	matches, err := filepath.Glob(globEscape(stem) + "-*-of-*" + globEscape(ext))
	if err != nil {
		return nil, err
	}
	byIndex := map[int]string{}
	count := 0
	for _, m := range matches {
		mid := strings.TrimSuffix(strings.TrimPrefix(m, stem), ext)
		sm := shardNameRE.FindStringSubmatch(mid)
		if sm == nil {
			continue
		}
		i, _ := strconv.Atoi(sm[1])
		n, _ := strconv.Atoi(sm[2])
		if count != 0 && n != count {
			return nil, fmt.Errorf("merge shards of %s: %s is one of %d shards, others of %d: remove the stale files", out, m, n, count)
		}
		count = n
		byIndex[i] = m
	}
	if count == 0 {
		return nil, fmt.Errorf("merge shards of %s: no files named %s-NNNNN-of-NNNNN%s", out, stem, ext)
	}
	files := make([]string, count)
	var missing []string
	for i := range count {
		f, ok := byIndex[i]
		if !ok {
			missing = append(missing, filepath.Base(ShardPath(out, Shard{i, count})))
			continue
		}
		files[i] = f
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("merge shards of %s: %d of %d shards missing: %s", out, len(missing), count, strings.Join(limit(missing, 8), ", "))
	}
	return files, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

func limit(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("… (%d more)", len(s)-n))
}

// MergeStats summarises MergeShards.
type MergeStats struct {
	Out    string
	Shards int
	Rows   int64
}

// MergeShards joins the shard outputs of out (see FindShards) into out, in
// input order. Rows are re-written through the same writer Run uses, so the
// result equals an unsharded run's output byte for byte. format "" is taken
// from out's extension. out is written atomically; the shards are kept.
func MergeShards(out, format string) (*MergeStats, error) {
	files, err := FindShards(out)
	if err != nil {
		return nil, err
	}
	return MergeFiles(out, format, files)
}

// MergeFiles joins the given shard outputs into out, in shard order, after
// checkShardSet proves from their manifests that they tile one input exactly once.
func MergeFiles(out, format string, files []string) (*MergeStats, error) {
	if len(files) == 0 {
		return nil, errors.New("merge: no input files")
	}
	files, err := checkShardSet(files)
	if err != nil {
		return nil, err
	}
	if format == "" {
		if format, err = FormatOf(out); err != nil {
			return nil, err
		}
	}
	if err := table.CheckFormat(format); err != nil {
		return nil, err
	}
	st := &MergeStats{Out: out, Shards: len(files)}
	readers := make([]table.PredictionReader, 0, len(files))
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	var cols Columns
	for i, f := range files {
		if filepath.Clean(f) == filepath.Clean(out) {
			return nil, fmt.Errorf("merge: output %s is also an input", out)
		}
		ff, err := FormatOf(f)
		if err != nil {
			return nil, err
		}
		if ff != format {
			return nil, fmt.Errorf("merge: %s is %s, output is %s", f, ff, format)
		}
		rr, err := table.OpenPredictions(f, format)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		readers = append(readers, rr)
		// An empty JSON Lines shard has no columns to compare.
		if format == FormatJSONL && rr.Columns().Equal(Columns{}) {
			continue
		}
		if i > 0 && !cols.Equal(Columns{}) && !rr.Columns().Equal(cols) {
			return nil, fmt.Errorf("merge: %s has columns %v, %s has %v", f, rr.Columns().Names(), files[0], cols.Names())
		}
		cols = rr.Columns()
	}
	af, err := atomicfile.Create(out)
	if err != nil {
		return nil, err
	}
	defer af.Abort()
	w, err := table.NewPredictionWriter(af, format, cols)
	if err != nil {
		return nil, err
	}
	for i, rr := range readers {
		for {
			r, err := rr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("merge: %w", err)
			}
			if err := w.Write(r); err != nil {
				return nil, fmt.Errorf("merge: write %s from %s: %w", out, files[i], err)
			}
			st.Rows++
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("merge: write %s: %w", out, err)
	}
	return st, af.Commit()
}
