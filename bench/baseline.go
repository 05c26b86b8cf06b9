package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/task"
)

// The TF-IDF baseline's cost grows with its vocabulary, and the bundled Amazon sentences have
// only ~2k words: reviews stitched from them (corpus.go) would make the fit look cheap. IMDB's
// 50k reviews have ~100k distinct words and ~2.5M distinct word pairs. vocabReviews draws reviews
// of IMDB-like lengths from a Zipf vocabulary with a Markov bigram structure and a few hundred
// sentiment words, tuned to give IMDB-sized unigram and bigram vocabularies.
const (
	vocabWords       = 120_000 // pseudo-words ranked by frequency
	vocabZipfS       = 1.1     // Zipf exponent of word frequencies
	vocabSuccessors  = 6       // each word's usual next words
	vocabFollowProb  = 0.45    // chance that the next word is one of the usual next words
	vocabSentiment   = 200     // positive words, and as many negative ones
	vocabOpinionProb = 0.05    // chance per word of an opinion word
	vocabAgainstProb = 0.3     // chance that an opinion word goes against the review's label
)

// pseudoWord is word number i spelled from two-letter syllables (distinct for distinct i; frequent
// words short).
func pseudoWord(i int) string {
	const syll = "bakedifogulamenipotasuvewixoyazhchshthrestr"
	var b strings.Builder
	for {
		k := i % (len(syll) / 2)
		b.WriteString(syll[2*k : 2*k+2])
		i /= len(syll) / 2
		if i == 0 {
			return b.String()
		}
		i-- // bijective numbering: "ba" and "baba" are different words
	}
}

// vocabReviews returns n reviews of IMDB-like lengths (imdbWordCount) with balanced labels.
func vocabReviews(n int, seed uint64) (texts []string, labels []int) {
	r := rand.New(rand.NewPCG(seed, 0x7f1d))
	zipf := rand.NewZipf(r, vocabZipfS, 1, vocabWords-1)
	words := make([]string, vocabWords)
	for i := range words {
		words[i] = pseudoWord(i)
	}
	succ := make([]int32, vocabWords*vocabSuccessors)
	for i := range succ {
		succ[i] = int32(zipf.Uint64())
	}
	// Opinion words: mid-frequency ranks, like "great", "awful", "boring".
	opinion := [2][]int{}
	for c := range opinion {
		for k := range vocabSentiment {
			opinion[c] = append(opinion[c], 200+10*c+20*k)
		}
	}
	var b strings.Builder
	for range n {
		label := r.IntN(2)
		b.Reset()
		prev := int(zipf.Uint64())
		for k := range imdbWordCount(r) {
			w := int(zipf.Uint64())
			switch x := r.Float64(); {
			case x < vocabOpinionProb:
				c := label
				if r.Float64() < vocabAgainstProb {
					c = 1 - label
				}
				w = opinion[c][r.IntN(vocabSentiment)]
			case x < vocabOpinionProb+vocabFollowProb:
				w = int(succ[prev*vocabSuccessors+r.IntN(vocabSuccessors)])
			}
			if k > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[w])
			prev = w
		}
		texts, labels = append(texts, b.String()), append(labels, label)
	}
	return texts, labels
}

// baselineSpec: one baseline fit on vocabReviews(Rows+TestRows, Seed), the first Rows for training.
type baselineSpec struct {
	Rows     int    `json:"rows"`
	TestRows int    `json:"test_rows"`
	Seed     uint64 `json:"seed"`
}

type baselineOut struct {
	FitSeconds      float64 `json:"fit_seconds"`     // features + solver, within the first eval
	FeatureSeconds  float64 `json:"feature_seconds"` // of FitSeconds: vocabulary and TF-IDF rows
	FirstEvalS      float64 `json:"first_eval_seconds"`
	CPUSeconds      float64 `json:"cpu_seconds"` // user+system of the first eval's baseline (two solver threads)
	Terms           int     `json:"terms"`
	NewtonIters     int     `json:"newton_iterations"`
	Accuracy        float64 `json:"accuracy"`
	VmHWMMiB        float64 `json:"vmhwm_mib"`     // peak RSS of the first eval's baseline (HWM reset before it)
	FitVmHWMMiB     float64 `json:"fit_vmhwm_mib"` // the same when the solver's last iteration ends (before the cache write)
	TrainJSONMiB    float64 `json:"train_json_mib"`
	CacheReadS      float64 `json:"cache_read_seconds"`
	CacheMiB        float64 `json:"cache_mib"`
	CachedIdentical bool    `json:"cached_identical"` // the cached fit scores the test rows bit-identically
}

func processCPUSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// childBaseline does what two evals with a baseline do: the first reads PREP/train.json, fits
// and writes the cache; the second reads the cache. The peak RSS is the first one's alone: the
// generated reviews are written to train.json and dropped, and the high-water mark reset, first.
func childBaseline(raw []byte) (any, error) {
	var sp baselineSpec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sentitune-bench-baseline-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	trainPath, cacheDir := filepath.Join(dir, "train.json"), filepath.Join(dir, ".cache")
	texts, labels := vocabReviews(sp.Rows+sp.TestRows, sp.Seed)
	train := make([]task.Record, sp.Rows)
	for i := range train {
		train[i] = task.Record{Instruction: "Is this review positive? Answer 1 or 0.", Input: texts[i], Output: strconv.Itoa(labels[i])}
	}
	js, err := json.Marshal(train)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(trainPath, js, 0o644); err != nil {
		return nil, err
	}
	var out baselineOut
	out.TrainJSONMiB = float64(len(js)) / (1 << 20)
	testTexts, testLabels := slices.Clone(texts[sp.Rows:]), slices.Clone(labels[sp.Rows:])
	train, js, texts, labels = nil, nil, nil, nil
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil { // resets VmHWM (Linux ≥ 4.0)
		return nil, err
	}

	var begin, featuresDone, solved time.Time
	cpu0, t0 := processCPUSeconds(), time.Now()
	first, err := eval.LoadOrFitBaseline(trainPath, cacheDir, func(phase string, done, total int, _ string) {
		switch {
		case phase == "features" && done == 0:
			begin = time.Now()
		case phase == "features" && done == total:
			featuresDone = time.Now()
		case phase == "solver":
			solved = time.Now()
			out.FitVmHWMMiB = vmHWM()
		}
	})
	if err != nil {
		return nil, err
	}
	if first.FromCache || first.CacheErr != nil {
		return nil, fmt.Errorf("first eval: from cache %v, cache error %v", first.FromCache, first.CacheErr)
	}
	out.FirstEvalS, out.CPUSeconds, out.VmHWMMiB = time.Since(t0).Seconds(), processCPUSeconds()-cpu0, vmHWM()
	out.FeatureSeconds, out.FitSeconds = featuresDone.Sub(begin).Seconds(), solved.Sub(begin).Seconds()
	out.Terms, out.NewtonIters = first.Features(), len(first.Objective)-1
	preds := first.PredictAll(nil, testTexts, testLabels)
	m, err := eval.Compute(preds)
	if err != nil {
		return nil, err
	}
	out.Accuracy = m.Accuracy

	first = nil
	runtime.GC()

	t2 := time.Now()
	cached, err := eval.LoadOrFitBaseline(trainPath, cacheDir, nil)
	if err != nil {
		return nil, err
	}
	out.CacheReadS = time.Since(t2).Seconds()
	if !cached.FromCache {
		return nil, fmt.Errorf("the second LoadOrFitBaseline fitted again (cache %s: %v)", cached.CachePath, cached.CacheErr)
	}
	if fi, err := os.Stat(cached.CachePath); err == nil {
		out.CacheMiB = float64(fi.Size()) / (1 << 20)
	}
	out.CachedIdentical = reflect.DeepEqual(preds, cached.PredictAll(nil, testTexts, testLabels))
	return out, nil
}

// sklearnOut is bench/baseline_sklearn.py's answer.
type sklearnOut struct {
	Sklearn    string  `json:"sklearn"`
	Vocabulary int     `json:"vocabulary"`
	Accuracy   float64 `json:"accuracy"`
	FitSeconds float64 `json:"fit_seconds"`
	Iterations int     `json:"iterations"`
	Solver     string  `json:"solver"`
}

// BaselineBench is bench/results/baseline-<date>.json.
type BaselineBench struct {
	Command     string       `json:"command"`
	Date        string       `json:"date"`
	Quick       bool         `json:"quick,omitempty"`
	Machine     Machine      `json:"machine"`
	Nice        int          `json:"nice"` // this process's niceness: a negative one wins the shared cores from the other builds
	Load        []LoadSample `json:"load_average"`
	Data        string       `json:"data"`
	Rows        int          `json:"rows"`
	TestRows    int          `json:"test_rows"`
	Goal        string       `json:"goal"`
	Runs        []baselineOut
	PeakRSSMiB  []float64   `json:"peak_rss_mib"` // ru_maxrss of each child: data + fit + cache round trip
	Sklearn     *sklearnOut `json:"sklearn,omitempty"`
	SklearnRSS  float64     `json:"sklearn_peak_rss_mib,omitempty"`
	SklearnNote string      `json:"sklearn_note,omitempty"`
	Before      string      `json:"before"`
}

// runBaselineBench measures the TF-IDF baseline's fit on 50k IMDB-like reviews (three child
// processes), and scikit-learn's on the same rows, and writes baseline-<date>.json and .md.
func runBaselineBench(o options, withSklearn bool) error {
	begin := time.Now()
	sp := baselineSpec{Rows: 50000, TestRows: 5000, Seed: 1}
	repeats := 1 // one 50k fit takes minutes when the 2 cores are shared; run the bench again for more
	if o.quick {
		sp, repeats = baselineSpec{Rows: 5000, TestRows: 1000, Seed: 1}, 1
	}
	res := &BaselineBench{Command: commandLine(), Date: begin.UTC().Format(time.RFC3339), Quick: o.quick, Machine: machineInfo(),
		Rows: sp.Rows, TestRows: sp.TestRows, Goal: "fit ≤ 15 s and peak RSS ≤ 500 MB; accuracy within 0.5 point of scikit-learn",
		Data: fmt.Sprintf("vocabReviews(%d, seed %d) (bench/baseline.go): IMDB-like lengths (median 174 words), a Zipf vocabulary "+
			"of %d words with a Markov bigram structure and %d+%d opinion words; first %d rows train, the rest test", sp.Rows+sp.TestRows, sp.Seed,
			vocabWords, vocabSentiment, vocabSentiment, sp.Rows),
		Before: "before this change (L-BFGS over a dense gradient, map-based rows): 328 s and 2.2 GB for the baseline of an eval on IMDB, 44k training rows (issue 18); not re-run"}
	if prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0); err == nil {
		res.Nice = 20 - prio // the raw syscall returns 20 - nice
	}
	res.Load = append(res.Load, loadSample("start"))
	for range repeats {
		var out baselineOut
		cr, err := runChild("baseline", sp, &out)
		if err != nil {
			return err
		}
		res.Runs = append(res.Runs, out)
		res.PeakRSSMiB = append(res.PeakRSSMiB, cr.PeakRSSMiB)
		logf("bench: baseline fit %.1fs (features %.1fs, cpu %.1fs), %d terms, accuracy %.4f, peak RSS %.0f MiB",
			out.FitSeconds, out.FeatureSeconds, out.CPUSeconds, out.Terms, out.Accuracy, cr.PeakRSSMiB)
	}
	res.Load = append(res.Load, loadSample("go fits"))

	if err := runSklearn(o, sp, res, withSklearn); err != nil {
		return err
	}

	name := "baseline-" + begin.Format("2006-01-02")
	if o.quick {
		name += "-quick"
	}
	if !withSklearn {
		name += "-go"
	}
	jsonPath, mdPath, err := writeResults(o.out, name, res, res.markdown())
	if err != nil {
		return err
	}
	logf("bench: wrote %s and %s", jsonPath, mdPath)
	return nil
}

// runSklearn fits scikit-learn's equivalent on the same rows, through CSV files, at the lowest
// priority (it takes minutes and must not slow a Go measurement run at a raised priority).
func runSklearn(o options, sp baselineSpec, res *BaselineBench, run bool) error {
	if !run {
		res.SklearnNote = "not run (-baseline-no-sklearn)"
		return nil
	}
	work, err := os.MkdirTemp("", "sentitune-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	texts, labels := vocabReviews(sp.Rows+sp.TestRows, sp.Seed)
	trainCSV, testCSV := filepath.Join(work, "baseline-train.csv"), filepath.Join(work, "baseline-test.csv")
	for _, f := range []struct {
		path   string
		lo, hi int
	}{{trainCSV, 0, sp.Rows}, {testCSV, sp.Rows, sp.Rows + sp.TestRows}} {
		w, err := os.Create(f.path)
		if err != nil {
			return err
		}
		if err := writeReviewsCSV(w, texts[f.lo:f.hi], labels[f.lo:f.hi]); err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	var sk sklearnOut
	cr, err := runProcess(exec.Command("nice", "-n", "19", o.python, "bench/baseline_sklearn.py", trainCSV, testCSV), &sk)
	if err != nil {
		res.SklearnNote = "scikit-learn run failed: " + err.Error()
	} else {
		res.Sklearn, res.SklearnRSS = &sk, cr.PeakRSSMiB
	}
	res.Load = append(res.Load, loadSample("sklearn"))
	return nil
}

func (r *BaselineBench) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# TF-IDF baseline fit, %s\n\n", r.Date[:10])
	fmt.Fprintf(&b, "Command: `%s` at niceness %d  \nMachine: %s, %d logical CPUs, %.0f GiB, %s; load average %v at the start, %v after the Go fits "+
		"(other engineers' builds share these cores: wall times are upper bounds; CPU time is the fit's own work).\n\n",
		r.Command, r.Nice, r.Machine.CPU, r.Machine.Cores, r.Machine.RAMGiB, r.Machine.Go, r.Load[0].Load1, r.Load[1].Load1)
	fmt.Fprintf(&b, "Data: %s.  \nGoal: %s.\n\n", r.Data, r.Goal)
	b.WriteString("| run | first eval's baseline (s) | CPU (s) | peak RSS (MiB) | fit (s) | of it features (s) | terms | Newton iterations | accuracy | second eval: cache read (s) | cache file (MiB) | cached = fresh |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var firsts, fits, rss []float64
	for i, x := range r.Runs {
		fmt.Fprintf(&b, "| %d | %.1f | %.1f | %.0f | %.1f | %.1f | %d | %d | %.4f | %.2f | %.0f | %v |\n", i+1, x.FirstEvalS, x.CPUSeconds, x.VmHWMMiB,
			x.FitSeconds, x.FeatureSeconds, x.Terms, x.NewtonIters, x.Accuracy, x.CacheReadS, x.CacheMiB, x.CachedIdentical)
		firsts, fits, rss = append(firsts, x.FirstEvalS), append(fits, x.FitSeconds), append(rss, x.VmHWMMiB)
	}
	fmt.Fprintf(&b, "\nMedian: first eval's baseline %.1f s (read and hash train.json of %.0f MiB, fit, write the cache), of it the fit %.1f s, "+
		"peak RSS %.0f MiB (the child's high-water mark reset just before the first eval's baseline; %.0f MiB of it reached by the end of the fit, "+
		"before the cache write; the child's whole life peaked at %.0f MiB with the generated reviews).\n\n",
		median(firsts), r.Runs[0].TrainJSONMiB, median(fits), median(rss), r.Runs[0].FitVmHWMMiB, median(r.PeakRSSMiB))
	if s := r.Sklearn; s != nil {
		fmt.Fprintf(&b, "scikit-learn %s (`bench/baseline_sklearn.py`: TfidfVectorizer(ngram_range=(1, 2)) + LogisticRegression(C=10, %s)) on the same rows: "+
			"vocabulary %d, accuracy %.4f (Go − scikit-learn: %+.2f points), fit %.1f s, %d iterations, peak RSS %.0f MiB.\n\n",
			s.Sklearn, s.Solver, s.Vocabulary, s.Accuracy, 100*(r.Runs[0].Accuracy-s.Accuracy), s.FitSeconds, s.Iterations, r.SklearnRSS)
	} else {
		fmt.Fprintf(&b, "scikit-learn: %s\n\n", r.SklearnNote)
	}
	fmt.Fprintf(&b, "Before: %s.\n", r.Before)
	return b.String()
}
