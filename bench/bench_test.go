package main

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
)

func TestTrainFLOPs(t *testing.T) {
	// tiny preset by hand: per layer q 64·64, k 64·32, v 64·32, o 64·64, gate/up/down 3·64·256.
	cfg, err := llm.PresetConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	s := shapeOf(cfg, 8)
	perLayer := int64(64*64 + 64*32 + 64*32 + 64*64 + 3*64*256)
	loraPerLayer := int64(8 * ((64 + 64) + (64 + 32) + (64 + 32) + (64 + 64) + 3*(64+256)))
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"linear params", float64(s.LinearParams), float64(2 * perLayer)},
		{"lora params", float64(s.LoRAParams), float64(2 * loraPerLayer)},
		{"lm_head params", float64(s.HeadParams), 64 * 151936},
		{"train step", trainFLOPs(s, 8, 128, 2),
			8*128*(4*float64(2*perLayer)+6*float64(2*loraPerLayer)+12*2*128*64) + 8*2*4*64*151936},
		{"score rows", scoreFLOPs(s, []int{10, 20}),
			2*float64(2*perLayer)*30 + 4*2*64*(100+400) + 2*2*64*151936},
	} {
		t.Run(c.name, func(t *testing.T) {
			if math.Abs(c.got-c.want) > 1e-9*c.want {
				t.Errorf("got %g, want %g", c.got, c.want)
			}
		})
	}
	if got := mfu(50e9, 1, 100); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("mfu = %g, want 0.5", got)
	}
}

func TestIMDBLikeLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := make([]float64, 20000)
	sum := 0.0
	for i := range n {
		n[i] = float64(imdbWordCount(r))
		sum += n[i]
		if n[i] < imdbMinWords || n[i] > imdbMaxWords {
			t.Fatalf("length %v outside [%d, %d]", n[i], imdbMinWords, imdbMaxWords)
		}
	}
	sort.Float64s(n)
	if med := n[len(n)/2]; math.Abs(med-imdbMedianWords) > 8 {
		t.Errorf("median %v words, want ≈ %v", med, imdbMedianWords)
	}
	if mean := sum / float64(len(n)); math.Abs(mean-imdbMeanWords) > 10 {
		t.Errorf("mean %v words, want ≈ %v", mean, imdbMeanWords)
	}
}

func TestMidWindowReviews(t *testing.T) {
	texts, labels, err := midWindowReviews(32, 1024, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 32 || len(labels) != 32 {
		t.Fatalf("got %d texts and %d labels, want 32", len(texts), len(labels))
	}
	// The middle of the length order: every length lies between the window's 40th and 60th percentiles.
	sents, err := amazonSentences()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(42, 0x1bd6))
	var all []int
	for range 1024 {
		all = append(all, imdbWordCount(r))
		reviewOfWords(r, sents, all[len(all)-1]) // keep the stream in step with midWindowReviews
	}
	sort.Ints(all)
	lo, hi := all[1024*40/100], all[1024*60/100]
	for i, s := range texts {
		if w := len(strings.Fields(s)); w < lo || w > hi {
			t.Errorf("review %d has %d words, outside the window's middle [%d, %d]", i, w, lo, hi)
		}
		if labels[i] != 0 && labels[i] != 1 {
			t.Errorf("review %d label %d", i, labels[i])
		}
	}
	again, _, _ := midWindowReviews(32, 1024, 42)
	if strings.Join(again, "\n") != strings.Join(texts, "\n") {
		t.Error("the same seed gave different reviews")
	}
}

func TestLongReviewsAreLong(t *testing.T) {
	texts, _, err := longReviews(5, 300, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range texts {
		if w := len(strings.Fields(s)); w != 300 {
			t.Errorf("review %d has %d words, want 300", i, w)
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		x    float64
		want string
	}{{0, "—"}, {1234567.8, "1,234,568"}, {999, "999"}, {12.34, "12.3"}, {1.234, "1.23"}} {
		if got := fnum(c.x); got != c.want {
			t.Errorf("fnum(%v) = %q, want %q", c.x, got, c.want)
		}
	}
	if got := median([]float64{3, 1, 2, 10}); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
	if got := minimum([]float64{3, 1, 2}); got != 1 {
		t.Errorf("minimum = %v, want 1", got)
	}
}

func TestRenderMarkdownPartial(t *testing.T) {
	// A run where sections failed still renders, and says so.
	r := &Results{Date: "2026-11-27T00:00:00Z", Command: "make bench",
		Training: []TrainResult{{Preset: "tiny", Batch: 8, Seq: 128, PyTorch: Measure{Error: "python3: no module named torch"}}},
		Errors:   []string{"train: python3: no module named torch"}}
	md := renderMarkdown(r)
	for _, want := range []string{"# sentitune CPU benchmark — 2026-11-27", "make bench", "error: python3: no module named torch", "## Errors"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}
