package prep

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkRun50k preps 50,000 generated ~1 KB reviews (CSV) and reports
// rows/s and the process's peak RSS (goal: ≤ 10 s and ≤ 500 MB per run).
//
//	go test ./prep -run '^$' -bench Run50k -benchtime 3x
func BenchmarkRun50k(b *testing.B) {
	const rows = 50000
	dir := b.TempDir()
	in := filepath.Join(dir, "reviews.csv")
	f, err := os.Create(in)
	if err != nil {
		b.Fatal(err)
	}
	if err := GenerateSyntheticReviews(f, rows, 1); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(in)
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := Run(Config{Input: in, Out: filepath.Join(dir, "out"), TestRatio: 0.1, Seed: 42, Dedup: true})
		if err != nil {
			b.Fatal(err)
		}
		if st.Rows.Kept != rows {
			b.Fatalf("kept %d rows", st.Rows.Kept)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	if mb := peakRSSMB(); mb > 0 {
		b.ReportMetric(mb, "peak-RSS-MB")
	}
}

// peakRSSMB reads VmHWM from /proc/self/status (Linux); 0 elsewhere.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
