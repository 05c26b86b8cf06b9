package finetune

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// --resume never trains over a finished run, says when it starts fresh, checks every
// checkpoint file against SHA256SUMS, and offers the previous checkpoint when the newest is
// damaged; --resume-from that one reproduces the uninterrupted run.
func TestResumeChecksAndRefusals(t *testing.T) {
	dir := t.TempDir()
	short := func(out string) Config {
		cfg := testConfig(t, out)
		cfg.MaxSteps, cfg.SaveEvery, cfg.SaveTotalLimit, cfg.EvalEvery = 6, 2, 3, 0
		cfg.LoadBest = false
		return cfg
	}
	ref := filepath.Join(dir, "ref")
	want, err := Train(short(ref), nil)
	if err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(ref, DirCheckpoint, "step-4")
	if err := verifyCheckpoint(ck); err != nil {
		t.Fatalf("fresh checkpoint: %v", err)
	}
	sums, _ := os.ReadFile(filepath.Join(ck, fileChecksums))
	for _, f := range []string{fileTrainerState, fileOptimizer, "adapter/adapter_model.safetensors", "adapter/adapter_config.json"} {
		if !bytes.Contains(sums, []byte("  "+f+"\n")) {
			t.Fatalf("%s does not list %s:\n%s", fileChecksums, f, sums)
		}
	}

	t.Run("finished run", func(t *testing.T) {
		before, _ := os.ReadFile(filepath.Join(ref, FileRun))
		for _, c := range []func(*Config){
			func(c *Config) { c.Resume = true },
			func(c *Config) { c.ResumeFrom = "step-2" },
		} {
			cfg := short(ref)
			c(&cfg)
			if _, err := Train(cfg, nil); err == nil || !strings.Contains(err.Error(), "finished") || !strings.Contains(err.Error(), "--overwrite") {
				t.Fatalf("err = %v", err)
			}
		}
		after, _ := os.ReadFile(filepath.Join(ref, FileRun))
		if !bytes.Equal(before, after) {
			t.Fatal("run.json changed")
		}
	})
	t.Run("no checkpoint yet", func(t *testing.T) {
		cfg := short(filepath.Join(dir, "new"))
		cfg.Resume = true
		var progress bytes.Buffer
		res, err := Train(cfg, &progress)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(progress.String(), "no checkpoint in") || !strings.Contains(progress.String(), "starting from step 0") || math.Abs(res.FinalLoss-want.FinalLoss) > 1e-5 { // same run; CPU backward kernels differ in the last bits between runs
			t.Fatalf("final loss %v (want %v), progress:\n%s", res.FinalLoss, want.FinalLoss, progress.String())
		}
	})
	t.Run("damaged newest", func(t *testing.T) {
		out := filepath.Join(dir, "crashed")
		if err := os.CopyFS(out, os.DirFS(ref)); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{FileRun, DirAdapter} { // as if killed after step 4's checkpoint
			os.RemoveAll(filepath.Join(out, f))
		}
		w := filepath.Join(out, DirCheckpoint, "step-4", "adapter", "adapter_model.safetensors")
		b, _ := os.ReadFile(w)
		b[len(b)-3] ^= 0x40 // one bit of the last tensor
		os.WriteFile(w, b, 0o644)
		cfg := short(out)
		cfg.Resume = true
		_, err := Train(cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "step-4 is damaged") || !strings.Contains(err.Error(), "adapter/adapter_model.safetensors") ||
			!strings.Contains(err.Error(), "--resume-from step-2") {
			t.Fatalf("err = %v", err)
		}
		cfg.Resume, cfg.ResumeFrom = false, "step-4"
		if _, err := Train(cfg, nil); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("--resume-from a damaged checkpoint: %v", err)
		}
		cfg.ResumeFrom = "step-3"
		if _, err := Train(cfg, nil); err == nil || !strings.Contains(err.Error(), "checkpoints: step-2, step-4") {
			t.Fatalf("--resume-from a missing checkpoint: %v", err)
		}
		cfg.ResumeFrom = "step-2"
		res, err := Train(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.ResumedFrom != 2 || math.Abs(res.FinalLoss-want.FinalLoss) > 1e-5 { // TestResumeAfterKill's tolerance
			t.Fatalf("resumed from %d: final loss %v, uninterrupted %v", res.ResumedFrom, res.FinalLoss, want.FinalLoss)
		}
	})
	t.Run("changed val-ratio or metric-for-best", func(t *testing.T) {
		out := filepath.Join(dir, "changed")
		if err := os.CopyFS(out, os.DirFS(ref)); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{FileRun, DirAdapter} { // as if killed after step 4's checkpoint
			os.RemoveAll(filepath.Join(out, f))
		}
		for _, c := range []struct {
			change func(*Config)
			want   string
		}{
			{func(c *Config) { c.ValRatio = 0.2 }, "val_ratio: checkpoint 0.1, now 0.2"},
			{func(c *Config) { c.MetricForBest = MetricEvalAccuracy }, `metric_for_best: checkpoint "eval_loss", now "eval_accuracy"`},
		} {
			cfg := short(out)
			cfg.Resume = true
			c.change(&cfg)
			if _, err := Train(cfg, nil); err == nil || !strings.Contains(err.Error(), "settings changed") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to say %s", err, c.want)
			}
		}
	})
	t.Run("no checksums", func(t *testing.T) {
		ck := t.TempDir()
		if err := os.CopyFS(ck, os.DirFS(filepath.Join(ref, DirCheckpoint, "step-2"))); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(ck, fileChecksums))
		if err := verifyCheckpoint(ck); err == nil || !strings.Contains(err.Error(), "no SHA256SUMS") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("resume and overwrite", func(t *testing.T) {
		cfg := short(ref)
		cfg.Resume, cfg.Overwrite = true, true
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "not both") {
			t.Fatalf("err = %v", err)
		}
	})
}

// A run removes what interrupted writes of an earlier one left (a whole .tmp-step-N folder,
// hidden .NAME.tmp files) when their writer is gone, and nothing a live writer owns.
func TestStaleTempsRemoved(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead, live := strconv.Itoa(cmd.Process.Pid), strconv.Itoa(os.Getppid())
	ck := filepath.Join(out, DirCheckpoint)
	stale := []string{filepath.Join(ck, ".tmp-step-4-pid"+dead+"-11"), filepath.Join(out, ".run.json.tmp-pid"+dead+"-12"),
		filepath.Join(ck, ".step-5.tmp-pid"+dead+"-14")} // atomicfile.WriteDir's name for a checkpoint folder
	kept := []string{filepath.Join(ck, ".tmp-step-6-pid"+live+"-13"), filepath.Join(out, "notes.txt"), filepath.Join(ck, ".step-7.tmp-pid"+live+"-15")}
	os.MkdirAll(filepath.Join(stale[0], ckptAdapterDir), 0o755)
	os.WriteFile(filepath.Join(stale[0], ckptAdapterDir, "adapter_model.safetensors"), make([]byte, 1<<16), 0o644)
	os.WriteFile(stale[1], []byte("{"), 0o644)
	os.MkdirAll(stale[2], 0o755)
	os.MkdirAll(kept[0], 0o755)
	os.MkdirAll(kept[2], 0o755)
	os.WriteFile(kept[1], []byte("mine"), 0o644)
	cfg := testConfig(t, out)
	cfg.Resume = true
	if ckpt, err := prepareOut(cfg, fingerprint{}); err != nil || ckpt != "" {
		t.Fatalf("prepareOut: %q, %v", ckpt, err)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s: still there (%v)", p, err)
		}
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
