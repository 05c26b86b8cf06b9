package finetune

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestProfileATenCounts: --profile counts libtorch's ops per phase: the forward builds the graph
// (no autograd node runs), the backward runs the nodes, every phase that computes launches kernels.
func TestProfileATenCounts(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.MaxSteps, cfg.Profile = 3, true
	res, err := Train(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	phases := map[string]*ATenPerStep{}
	for _, p := range res.Profile {
		if p.ATen == nil {
			t.Fatalf("phase %q has no ATen counts", p.Phase)
		}
		if p.ATen.Launches > p.ATen.Ops {
			t.Errorf("%s: %v launches of %v ops", p.Phase, p.ATen.Launches, p.ATen.Ops)
		}
		phases[p.Phase] = p.ATen
	}
	if f := phases["forward, loss"]; f == nil || f.AutogradNodes != 0 || f.Launches < 2*7 {
		t.Errorf("forward: %+v, want no autograd nodes and at least a launch per LoRA linear (14)", f)
	}
	if b := phases["backward"]; b == nil || b.AutogradNodes < 2*7 || b.Launches < 2*7 {
		t.Errorf("backward: %+v, want at least a node and a launch per LoRA linear", b)
	}
	for _, ph := range []string{"clip grad norm", "optimizer step"} {
		if c := phases[ph]; c == nil || c.Launches == 0 || c.AutogradNodes != 0 {
			t.Errorf("%s: %+v, want kernels and no autograd nodes", ph, c)
		}
	}
}

// TestTrace: --trace writes Chrome trace JSON of TraceSteps steps (the first left out when the run
// has more), with the ATen ops, the autograd nodes and one span per phase per step.
func TestTrace(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace.json")
	cfg := testConfig(t, filepath.Join(dir, "run"))
	cfg.MaxSteps, cfg.Trace = TraceSteps+2, trace
	res, err := Train(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Profile != nil || res.ProfileOps != nil {
		t.Errorf("--trace alone reported a profile: %+v", res.Profile)
	}
	raw, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		TraceEvents []struct {
			Ph, Name, Cat string
			Ts, Dur       int64
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatalf("%s is not JSON: %v", trace, err)
	}
	count := map[string]int{}
	for _, e := range tr.TraceEvents {
		count[e.Cat]++
		if e.Cat == "phase" {
			count[e.Name]++
		}
	}
	if count["optimizer step"] != TraceSteps || count["backward"] != TraceSteps {
		t.Errorf("%d optimizer-step and %d backward spans, want %d each", count["optimizer step"], count["backward"], TraceSteps)
	}
	if count["aten"] < 100 || count["autograd"] == 0 {
		t.Errorf("%d aten events and %d autograd nodes", count["aten"], count["autograd"])
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".trace.json.tmp-*")); len(left) != 0 {
		t.Errorf("temp files left: %q", left)
	}
}
