package torch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestATenCounts: the shim's RecordFunction callback counts libtorch's ops, kernel launches, autograd
// nodes and host reads only while on, and the counts match a step whose ops are known.
func TestATenCounts(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := s.FromFloat32([]float32{1, 2, 3, 4}, 2, 2)
	if err := x.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	s.Add(x, x) // not counted: the counter is off
	before, err := ReadATenCounts()
	if err != nil {
		t.Fatal(err)
	}
	if err := CountATen(true); err != nil {
		t.Fatal(err)
	}
	loss := s.Sum(s.Mul(x, x))
	s.Backward(loss)
	v, err := loss.Item()
	if err != nil || v != 30 {
		t.Fatalf("loss %v, %v; want 30", v, err)
	}
	if err := CountATen(false); err != nil {
		t.Fatal(err)
	}
	c, err := ReadATenCounts()
	if err != nil {
		t.Fatal(err)
	}
	s.Add(x, x) // not counted either
	after, _ := ReadATenCounts()
	if after != c {
		t.Fatalf("counts moved while off: %+v then %+v", c, after)
	}
	d := c.Sub(before)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	// Forward: mul, sum; backward: MulBackward0, SumBackward0 and x's AccumulateGrad run.
	if d.AutogradNodes != 3 {
		t.Errorf("autograd nodes %d, want 3 (SumBackward0, MulBackward0, AccumulateGrad)", d.AutogradNodes)
	}
	if d.HostReads != 1 {
		t.Errorf("host reads %d, want 1 (the loss)", d.HostReads)
	}
	// At least mul and sum forward, and the backward's kernels; never more launches than ops.
	if d.Launches < 4 || d.Launches > d.Ops {
		t.Errorf("launches %d of %d ops, want 4..ops", d.Launches, d.Ops)
	}
}

// TestTrace: a trace is Chrome trace JSON with the ops and phases run while tracing.
func TestTrace(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := s.FromFloat32([]float32{1, 2, 3, 4}, 2, 2)
	if err := StartTrace(); err != nil {
		t.Fatal(err)
	}
	s.Matmul(x, x)
	if err := TracePhase("forward"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trace.json")
	if err := StopTrace(path); err != nil {
		t.Fatal(err)
	}
	s.Matmul(x, x) // after the trace: not in it
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		TraceEvents []struct {
			Ph, Name, Cat string
			Ts, Dur       int64
			Tid           int
		}
	}
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	matmuls, phases := 0, 0
	for _, e := range tr.TraceEvents {
		if e.Ph == "X" && e.Dur < 0 {
			t.Errorf("negative duration: %+v", e)
		}
		if e.Name == "aten::matmul" {
			matmuls++
		}
		if e.Cat == "phase" && e.Name == "forward" {
			phases++
		}
	}
	if matmuls != 1 || phases != 1 {
		t.Fatalf("trace has %d aten::matmul and %d forward phases, want 1 and 1:\n%s", matmuls, phases, raw)
	}
	if err := StopTrace(filepath.Join(t.TempDir(), "no", "such", "dir.json")); err == nil || !strings.Contains(err.Error(), "dir.json") {
		t.Fatalf("writing into a missing folder: %v", err)
	}
}
