package predict

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Merge refuses every shard set that does not tile the input exactly once, naming the file, and
// accepts a shard re-run with another window (the partition does not depend on it).
func TestMergeShardsProvesTiling(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 50)
	other := filepath.Join(dir, "other.jsonl")
	b, _ := os.ReadFile(in)
	writeFile(t, other, append(b, b...))
	whole := filepath.Join(dir, "whole.csv")
	if _, err := run(Config{Input: in, Out: whole, Window: 8}, fakeLoader(&fakeScorer{})); err != nil {
		t.Fatal(err)
	}
	// shards writes a fresh set of n shards of in into set.csv; edit then damages it.
	shard := func(t *testing.T, out string, cfg Config) {
		t.Helper()
		cfg.Out = out
		if cfg.Input == "" {
			cfg.Input = in
		}
		if cfg.Window == 0 {
			cfg.Window = 8
		}
		if cfg.ShardBlock == 0 {
			cfg.ShardBlock = 8
		}
		if _, err := run(cfg, fakeLoader(&fakeScorer{})); err != nil {
			t.Fatal(err)
		}
	}
	fresh := func(t *testing.T, name string) string {
		out := filepath.Join(t.TempDir(), name)
		for i := range 3 {
			shard(t, out, Config{Shard: Shard{i, 3}})
		}
		return out
	}
	refuse := func(t *testing.T, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("merged: no error")
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("error %q does not say %q", err, w)
			}
		}
	}

	t.Run("whole set", func(t *testing.T) {
		out := fresh(t, "set.csv")
		man, err := readShardManifest(ShardPath(out, Shard{1, 3}))
		if err != nil {
			t.Fatal(err)
		}
		// 50 rows = 7 blocks of 8: shard 1 of 3 is blocks 2–3.
		if man.FirstRow != 17 || man.LastRow != 32 || man.Rows != 16 || man.TotalRows != 50 || man.BlockRows != 8 || len(man.InputSHA256) != 64 {
			t.Fatalf("manifest %+v", man)
		}
		if _, err := MergeShards(out, ""); err != nil {
			t.Fatal(err)
		}
		assertSameFile(t, whole, out)
	})
	t.Run("re-run with another window", func(t *testing.T) {
		out := fresh(t, "set.csv")
		shard(t, out, Config{Shard: Shard{1, 3}, Window: 3})
		if _, err := MergeShards(out, ""); err != nil {
			t.Fatal(err)
		}
		assertSameFile(t, whole, out)
	})
	t.Run("listed twice", func(t *testing.T) {
		out := fresh(t, "set.csv")
		s0, s1 := ShardPath(out, Shard{0, 3}), ShardPath(out, Shard{1, 3})
		_, err := MergeFiles(filepath.Join(filepath.Dir(out), "m.csv"), "", []string{s0, s1, s1})
		refuse(t, err, s1, "both shard 1/3")
	})
	t.Run("another block", func(t *testing.T) {
		out := fresh(t, "set.csv")
		shard(t, out, Config{Shard: Shard{2, 3}, ShardBlock: 5})
		refuse(t, mergeErr(out), ShardPath(out, Shard{2, 3}), "blocks of 5", "--shard-block")
	})
	t.Run("another input", func(t *testing.T) {
		out := fresh(t, "set.csv")
		shard(t, out, Config{Shard: Shard{0, 3}, Input: other})
		refuse(t, mergeErr(out), "another input", "other.jsonl")
	})
	t.Run("another setting", func(t *testing.T) {
		out := fresh(t, "set.csv")
		shard(t, out, Config{Shard: Shard{2, 3}, KeepText: true})
		refuse(t, mergeErr(out), ShardPath(out, Shard{2, 3}), "other settings")
	})
	t.Run("truncated at a line", func(t *testing.T) {
		out := fresh(t, "set.csv")
		f := ShardPath(out, Shard{1, 3})
		b, _ := os.ReadFile(f)
		lines := strings.SplitAfter(string(b), "\n")
		writeFile(t, f, []byte(strings.Join(lines[:len(lines)-3], "")))
		refuse(t, mergeErr(out), f, "truncated or edited")
	})
	t.Run("no manifest", func(t *testing.T) {
		out := fresh(t, "set.csv")
		os.Remove(ManifestPath(ShardPath(out, Shard{0, 3})))
		refuse(t, mergeErr(out), ShardPath(out, Shard{0, 3}), "no manifest")
	})
	t.Run("range edited", func(t *testing.T) {
		out := fresh(t, "set.csv")
		f := ShardPath(out, Shard{1, 3})
		man, _ := readShardManifest(f)
		man.FirstRow = 9
		b, _ := json.Marshal(man)
		writeFile(t, ManifestPath(f), b)
		refuse(t, mergeErr(out), f, "covers rows 9–32")
	})
	t.Run("missing shard", func(t *testing.T) {
		out := fresh(t, "set.csv")
		s0, s2 := ShardPath(out, Shard{0, 3}), ShardPath(out, Shard{2, 3})
		_, err := MergeFiles(filepath.Join(filepath.Dir(out), "m.csv"), "", []string{s2, s0})
		refuse(t, err, "1 of 3 shards", "1/3")
	})
	t.Run("files in any order", func(t *testing.T) {
		out := fresh(t, "set.csv")
		m := filepath.Join(filepath.Dir(out), "m.csv")
		if _, err := MergeFiles(m, "", []string{ShardPath(out, Shard{2, 3}), ShardPath(out, Shard{0, 3}), ShardPath(out, Shard{1, 3})}); err != nil {
			t.Fatal(err)
		}
		assertSameFile(t, whole, m)
	})
}

func mergeErr(out string) error {
	_, err := MergeShards(out, "")
	return err
}

// A run removes its output's temporary file left by an earlier, killed run (writer pid gone).
func TestRunRemovesStaleTemp(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 20)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, ".out.csv.tmp-pid"+strconv.Itoa(cmd.Process.Pid)+"-42")
	writeFile(t, stale, []byte("id,pred\n1,"))
	if _, err := run(Config{Input: in, Out: filepath.Join(dir, "out.csv")}, fakeLoader(&fakeScorer{})); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".out.csv.tmp-*")); len(m) > 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}
