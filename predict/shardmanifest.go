package predict

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/filehash"
)

// shardManifestFormat tags a shard manifest, so a later layout is refused rather than misread.
const shardManifestFormat = "sentitune-shard-v1"

// ManifestPath is the manifest beside shard output f: preds-00001-of-00004.csv.shard.json.
func ManifestPath(f string) string { return f + ".shard.json" }

// shardManifest records what one shard output covers, so that merge can prove the shards tile
// one input exactly once: the input (by content), the partition (rows, block, count), the
// shard's range, and the output itself (bytes and hash, so truncation or a later edit shows).
type shardManifest struct {
	Format       string       `json:"format"`
	Shard        string       `json:"shard"` // I/N
	Index        int          `json:"index"`
	Count        int          `json:"count"`
	BlockRows    int          `json:"block_rows"` // the partition's unit (Config.ShardBlock)
	Input        string       `json:"input"`      // as given; informative only, machines differ
	InputSHA256  string       `json:"input_sha256"`
	InputBytes   int64        `json:"input_bytes"`
	TotalRows    int          `json:"total_rows"`
	FirstRow     int          `json:"first_row"` // 1-based, inclusive; first > last: an empty shard
	LastRow      int          `json:"last_row"`
	Rows         int          `json:"rows"`    // rows written
	Skipped      int          `json:"skipped"` // bad rows left out (--on-bad-row skip)
	Output       string       `json:"output"`  // base name of the shard output
	OutputFormat string       `json:"output_format"`
	OutputBytes  int64        `json:"output_bytes"`
	OutputSHA256 string       `json:"output_sha256"`
	Scoring      shardScoring `json:"scoring"`
}

// shardScoring is what changes the predictions themselves; model paths are left out because
// cluster nodes mount the same model at different paths.
type shardScoring struct {
	Chat        string  `json:"chat_template"`
	Instruction string  `json:"instruction"`
	System      string  `json:"system,omitempty"`
	LabelIDs    [2]int  `json:"label_token_ids"`
	MaxLen      int     `json:"max_len"`
	Threshold   float64 `json:"threshold"`
	Generate    int     `json:"generate,omitempty"`
	KeepText    bool    `json:"keep_text,omitempty"`

	Labels string `json:"labels,omitempty"` // a K-class adapter's label set ("" = binary)
}

// newShardManifest fingerprints the input of a sharded run before it is scored.
func newShardManifest(cfg Config, inputPath string, st *Stats) (*shardManifest, error) {
	h, err := filehash.SHA256(inputPath)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	fi, err := os.Stat(inputPath)
	if err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	return &shardManifest{Format: shardManifestFormat, Shard: cfg.Shard.String(), Index: cfg.Shard.Index, Count: cfg.Shard.Count,
		BlockRows: cfg.ShardBlock, Input: cfg.Input, InputSHA256: h, InputBytes: fi.Size(),
		TotalRows: st.TotalRows, FirstRow: st.FirstRow, LastRow: st.LastRow,
		Output: filepath.Base(cfg.Out), OutputFormat: cfg.Format}, nil
}

// dropStale removes an earlier run's manifest before the new output replaces the old, so a run
// that dies in between leaves an output with no manifest (refused by merge), never a mismatch.
func (m *shardManifest) dropStale(out string) error {
	if err := os.Remove(ManifestPath(out)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("predict: %w", err)
	}
	return nil
}

// write records the committed output out and the run's counts.
func (m *shardManifest) write(cfg Config, out string, st *Stats) error {
	m.Rows, m.Skipped = st.Rows, st.Skipped
	info := st.Model
	m.Scoring = shardScoring{Chat: info.Chat, Instruction: info.Instruction, System: info.System, LabelIDs: info.LabelIDs,
		MaxLen: info.MaxLen, Threshold: info.Threshold, Generate: cfg.Generate, KeepText: cfg.KeepText, Labels: info.Labels}
	var err error
	if m.OutputSHA256, err = filehash.SHA256(out); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	m.OutputBytes = fi.Size()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	if err := atomicfile.WriteFile(ManifestPath(out), append(b, '\n')); err != nil {
		return fmt.Errorf("predict: shard manifest: %w", err)
	}
	return nil
}

func readShardManifest(f string) (*shardManifest, error) {
	path := ManifestPath(f)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("merge: %s has no manifest %s (the shard did not finish, or an older sentitune wrote it): re-run that shard",
			f, filepath.Base(path))
	}
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	var m shardManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("merge: manifest %s: %w", path, err)
	}
	if m.Format != shardManifestFormat {
		return nil, fmt.Errorf("merge: manifest %s: format %q, want %q", path, m.Format, shardManifestFormat)
	}
	return &m, nil
}

// checkShardSet proves that files, each with its manifest, are the complete shards of one input
// scored with one partition and one set of scoring settings, unchanged since they were written.
// It returns the files in shard order; every error names the offending file.
func checkShardSet(files []string) ([]string, error) {
	mans := make([]*shardManifest, len(files))
	for i, f := range files {
		m, err := readShardManifest(f)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		h, err := filehash.SHA256(f)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if fi.Size() != m.OutputBytes || h != m.OutputSHA256 {
			return nil, fmt.Errorf("merge: %s changed after shard %s was scored (%d bytes, sha256 %.12s…; its manifest says %d bytes, %.12s…): truncated or edited; re-run that shard",
				f, m.Shard, fi.Size(), h, m.OutputBytes, m.OutputSHA256)
		}
		mans[i] = m
	}
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return mans[order[a]].Index < mans[order[b]].Index })
	ref, refFile := mans[order[0]], files[order[0]]
	seen := map[int]string{}
	sorted := make([]string, 0, len(files))
	for _, i := range order {
		m, f := mans[i], files[i]
		switch {
		case m.InputSHA256 != ref.InputSHA256:
			return nil, fmt.Errorf("merge: %s was scored from another input than %s (%s, sha256 %.12s…, vs %s, sha256 %.12s…)",
				f, refFile, m.Input, m.InputSHA256, ref.Input, ref.InputSHA256)
		case m.Count != ref.Count || m.BlockRows != ref.BlockRows || m.TotalRows != ref.TotalRows:
			return nil, fmt.Errorf("merge: %s is shard %s of %d rows in blocks of %d, %s is shard %s of %d rows in blocks of %d: one partition per set (--shard-block)",
				f, m.Shard, m.TotalRows, m.BlockRows, refFile, ref.Shard, ref.TotalRows, ref.BlockRows)
		case m.Scoring != ref.Scoring:
			return nil, fmt.Errorf("merge: %s was scored with other settings than %s (%s vs %s)", f, refFile, scoringJSON(m.Scoring), scoringJSON(ref.Scoring))
		}
		if prev, dup := seen[m.Index]; dup {
			return nil, fmt.Errorf("merge: %s and %s are both shard %s: each shard once", prev, f, m.Shard)
		}
		seen[m.Index] = f
		if first, last := (Shard{m.Index, m.Count}).rows(m.TotalRows, m.BlockRows); m.FirstRow != first || m.LastRow != last {
			return nil, fmt.Errorf("merge: %s covers rows %d–%d, but shard %s of %d rows is rows %d–%d", f, m.FirstRow, m.LastRow, m.Shard, m.TotalRows, first, last)
		}
		if span := max(m.LastRow-m.FirstRow+1, 0); m.Rows+m.Skipped != span {
			return nil, fmt.Errorf("merge: %s holds %d rows and %d skipped, its range %d–%d has %d", f, m.Rows, m.Skipped, m.FirstRow, m.LastRow, span)
		}
		sorted = append(sorted, f)
	}
	if len(seen) != ref.Count {
		var missing []string
		for i := range ref.Count {
			if _, ok := seen[i]; !ok {
				missing = append(missing, Shard{i, ref.Count}.String())
			}
		}
		return nil, fmt.Errorf("merge: %d of %d shards of %s missing: %s", len(missing), ref.Count, ref.Input, strings.Join(limit(missing, 8), ", "))
	}
	return sorted, nil
}

func scoringJSON(s shardScoring) string {
	b, _ := json.Marshal(s)
	return string(b)
}
