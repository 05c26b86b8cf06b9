package tensorboard

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/sentitune/sentitune/internal/tensorboard/tbtest"
)

func TestWriteThenReadIndependently(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs")
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_790_000_000, 250_000_000)
	if err := w.Scalars(1, t0, []Scalar{{"train/loss", 2.5}, {"train/learning_rate", 3e-4}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Scalars(300, t0.Add(time.Second), []Scalar{{"eval/accuracy", 0.8125}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^events\.out\.tfevents\.\d{10}\.[^/]+$`).MatchString(filepath.Base(w.Path())) {
		t.Errorf("file name %q is not TensorFlow's events.out.tfevents.<unix>.<host>", filepath.Base(w.Path()))
	}
	events, err := tbtest.ReadEventFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || events[0].FileVersion != "brain.Event:2" || events[0].WallTime <= 0 {
		t.Fatalf("events %+v: want the file version first, then 2 summaries", events)
	}
	e1, e2 := events[1], events[2]
	if e1.Step != 1 || e1.WallTime != 1_790_000_000.25 || len(e1.Values) != 2 ||
		e1.Values[0] != (tbtest.Scalar{Tag: "train/loss", Value: 2.5}) || e1.Values[1] != (tbtest.Scalar{Tag: "train/learning_rate", Value: float32(3e-4)}) {
		t.Errorf("event 1 = %+v", e1)
	}
	if e2.Step != 300 || len(e2.Values) != 1 || e2.Values[0] != (tbtest.Scalar{Tag: "eval/accuracy", Value: 0.8125}) {
		t.Errorf("event 2 = %+v", e2)
	}

	// A second writer in the same second gets its own file rather than clobbering the first.
	w2, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	if w2.Path() == w.Path() {
		t.Errorf("two writers share %s", w.Path())
	}
}

// TestSessionStartSupersedesLaterSteps: a resumed run's file starts with a START session log,
// so the steps an interrupted run logged past its checkpoint are dropped, not shown twice.
func TestSessionStartSupersedesLaterSteps(t *testing.T) {
	dir := t.TempDir()
	first, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for step := int64(1); step <= 3; step++ {
		first.Scalars(step, time.Now(), []Scalar{{Tag: "train/loss", Value: float64(step)}})
	}
	first.Close()
	resumed, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.SessionStart(2, time.Now()); err != nil {
		t.Fatal(err)
	}
	for step := int64(2); step <= 4; step++ {
		resumed.Scalars(step, time.Now(), []Scalar{{Tag: "train/loss", Value: float64(10 * step)}})
	}
	resumed.Close()
	events, err := tbtest.ReadEventFile(resumed.Path())
	if err != nil || len(events) < 2 || !events[1].Start || events[1].Step != 2 {
		t.Fatalf("the resumed file's events %+v (%v): want a START at step 2 after the file version", events, err)
	}
	got, err := tbtest.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []tbtest.StepValue{{Step: 1, Value: 1}, {Step: 2, Value: 20}, {Step: 3, Value: 30}, {Step: 4, Value: 40}}
	if fmt.Sprint(got["train/loss"]) != fmt.Sprint(want) {
		t.Errorf("train/loss as TensorBoard reads the folder: %v, want %v", got["train/loss"], want)
	}
}

func TestReaderChecksTheCRCs(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.Scalars(7, time.Now(), []Scalar{{"train/loss", 1}})
	w.Close()
	b, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{3, 9, 20, len(b) - 6, len(b) - 1} { // length, length CRC, data, data, data CRC
		bad := append([]byte(nil), b...)
		bad[at] ^= 0x10
		path := filepath.Join(dir, fmt.Sprintf("bad-%d", at))
		os.WriteFile(path, bad, 0o644)
		if _, err := tbtest.ReadEventFile(path); err == nil {
			t.Errorf("a flipped bit at byte %d of %d went unnoticed", at, len(b))
		}
	}
}

// TestCRC32CVectors checks the test's own CRC against published CRC-32C check values
// (RFC 3720 B.4 and the "123456789" check value).
func TestCRC32CVectors(t *testing.T) {
	ff := make([]byte, 32)
	for i := range ff {
		ff[i] = 0xff
	}
	for _, c := range []struct {
		in   []byte
		want uint32
	}{{[]byte("123456789"), 0xe3069283}, {make([]byte, 32), 0x8a9136aa}, {ff, 0x62a8ab43}} {
		if got := tbtest.CRC32C(c.in); got != c.want {
			t.Errorf("crc32c(%x) = %08x, want %08x", c.in, got, c.want)
		}
	}
}
