package progress

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLinesEveryInterval(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, Options{Name: "predict", Unit: "rows", Total: 100, Interval: 200 * time.Millisecond})
	if r.Mode() != Lines {
		t.Fatalf("a bytes.Buffer is no terminal: mode %v, want Lines", r.Mode())
	}
	r.Set(10, "batch 1") // within the first interval: no line
	time.Sleep(250 * time.Millisecond)
	r.Set(20, "")
	r.Set(25, "") // within the interval: no line
	time.Sleep(250 * time.Millisecond)
	r.Add(5)
	r.Event("checkpoint %d", 3)
	r.Add(10)
	r.Finish()
	r.Finish() // once only
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^predict: 20/100 rows \(20\.0%\), batch 1, [0-9.]+ rows/s, elapsed [0-9.]+m?s, ETA [0-9hms.]+$`),
		regexp.MustCompile(`^predict: 30/100 rows \(30\.0%\), batch 1, `),
		regexp.MustCompile(`^predict: checkpoint 3$`),
		regexp.MustCompile(`^predict: 40/100 rows \(40\.0%\), batch 1, `), // Finish: the last count
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d = %q, want %v", i+1, lines[i], re)
		}
	}
}

func TestFinishWritesTheLastCount(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, Options{Name: "finetune", Item: "step", Total: 8, Start: 4, Interval: 20 * time.Millisecond})
	time.Sleep(30 * time.Millisecond)
	r.Set(5, "loss 0.5")
	r.Set(8, "loss 0.25")
	r.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "finetune: step 5/8 (62.5%), loss 0.5, elapsed ") ||
		!strings.HasPrefix(lines[1], "finetune: step 8/8 (100.0%), loss 0.25, elapsed ") || !strings.HasSuffix(lines[1], "ETA 0s") {
		t.Fatalf("lines:\n%s", buf.String())
	}
	if strings.Contains(lines[0], "steps/s") {
		t.Errorf("an Item count shows no rate: %q", lines[0])
	}
}

func TestUnknownTotalAndBytes(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, Options{Name: "prep", Bytes: true, Interval: time.Nanosecond})
	r.Set(3<<20, "")
	line := strings.TrimSpace(buf.String())
	if !regexp.MustCompile(`^prep: 3\.0 MiB, [0-9.]+ [KMGT]?i?B/s, elapsed [0-9.]+m?s$`).MatchString(line) {
		t.Errorf("line %q", line)
	}
}

func TestBarKeepsEventsAboveIt(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, Options{Name: "finetune", Item: "step", Total: 4, Mode: Bar, KeepBar: true})
	r.Set(1, "loss 0.9")
	r.Event("eval at step 1: loss 0.8, accuracy 0.7")
	r.Set(4, "loss 0.1")
	r.Event("eval at step 4: loss 0.2, accuracy 0.9") // after the bar filled: on a line of its own
	r.Finish()
	out := buf.String()
	for _, s := range []string{"finetune: loss 0.9", "\rfinetune: eval at step 1: loss 0.8, accuracy 0.7\n", "(1/4)", "4/4",
		"\nfinetune: eval at step 4: loss 0.2, accuracy 0.9\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("bar output lacks %q:\n%q", s, out)
		}
	}
	if i, j := strings.Index(out, "accuracy 0.7"), strings.LastIndex(out, "loss 0.1"); i < 0 || j < i {
		t.Errorf("the bar is not redrawn after the event:\n%q", out)
	}
}

func TestShortWorkIsQuiet(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, Options{Name: "prep", Unit: "rows", Total: 10, Interval: time.Hour})
	r.Set(5, "")
	r.Set(10, "")
	r.Finish()
	if buf.Len() != 0 {
		t.Errorf("work shorter than the interval wrote %q", buf.String())
	}
}

func TestConcurrentAdds(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, Options{Name: "predict", Unit: "rows", Total: 800, Interval: time.Hour})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				r.Add(1)
			}
		}()
	}
	wg.Wait()
	if line := r.Line(); !strings.HasPrefix(line, "predict: 800/800 rows (100.0%)") {
		t.Errorf("after 800 concurrent adds: %q", line)
	}
}

func TestSilent(t *testing.T) {
	var r *Reporter
	r.Set(1, "x")
	r.Event("x")
	r.Finish()
	q := New(nil, Options{Name: "x"})
	q.Set(1, "x")
	q.Event("x")
	q.Finish()
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1536, "1.5 KiB"}, {200 << 20, "200 MiB"}, {3 << 30, "3.0 GiB"}} {
		if got := FormatBytes(c.n); got != c.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	if got := FormatDuration(3723400 * time.Millisecond); got != "1h2m3s" {
		t.Errorf("FormatDuration = %q", got)
	}
	if HostRSS() <= 0 {
		t.Error("HostRSS: no VmRSS in /proc/self/status")
	}
}
