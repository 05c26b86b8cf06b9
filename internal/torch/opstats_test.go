package torch

import "testing"

// TestRecordOps: while recording, each Scope op is tallied under its name with
// its host time; nothing is counted before, after or while paused.
func TestRecordOps(t *testing.T) {
	ResetOpStats()
	s := NewScope()
	defer s.Close()
	x := s.FromFloat32([]float32{1, 2, 3, 4}, 2, 2)
	s.Add(x, x) // before recording
	RecordOps(true)
	for range 3 {
		s.Add(x, x)
	}
	RecordOps(false) // paused
	s.Add(x, x)
	RecordOps(true)
	y := s.Matmul(x, x)
	s.Backward(s.Sum(y)) // fails (nothing requires grad) but is still a timed call
	RecordOps(false)
	s.Add(x, x) // after
	stats := OpStats()
	got := map[string]OpStat{}
	for _, st := range stats {
		got[st.Op] = st
		if st.Seconds < 0 {
			t.Errorf("%s: negative time %v", st.Op, st.Seconds)
		}
	}
	if got["add"].Calls != 3 || got["matmul"].Calls != 1 || got["sum"].Calls != 1 || got["backward"].Calls != 1 {
		t.Fatalf("tallies %+v, want add 3, matmul 1, sum 1, backward 1", stats)
	}
	for i := 1; i < len(stats); i++ {
		if stats[i].Seconds > stats[i-1].Seconds {
			t.Fatalf("not sorted by time: %+v", stats)
		}
	}
	ResetOpStats()
	if n := len(OpStats()); n != 0 {
		t.Fatalf("%d tallies after a reset", n)
	}
}
