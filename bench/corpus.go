package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/data"
)

// amazonSentence is one bundled sample review (data.AmazonJSONL).
type amazonSentence struct {
	Text  string `json:"text"`
	Label int    `json:"label"`
}

func amazonSentences() ([]amazonSentence, error) {
	var out []amazonSentence
	dec := json.NewDecoder(bytes.NewReader(data.AmazonJSONL()))
	for dec.More() {
		var s amazonSentence
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("read bundled %s: %w", data.AmazonName, err)
		}
		if strings.TrimSpace(s.Text) != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bundled %s has no sentences", data.AmazonName)
	}
	return out, nil
}

// IMDB-like review lengths: the IMDB movie-review set (Maas et al. 2011) has a
// median of ~174 words, a mean of ~234 and a long right tail (10 to ~2,500
// words). A log-normal with the same median and mean reproduces that spread:
// μ = ln 174, σ = √(2 ln(234/174)) ≈ 0.77.
const (
	imdbMedianWords = 174.0
	imdbMeanWords   = 234.0
	imdbMinWords    = 10
	imdbMaxWords    = 2500
)

// imdbWordCount draws one review length in words.
func imdbWordCount(r *rand.Rand) int {
	mu := math.Log(imdbMedianWords)
	sigma := math.Sqrt(2 * math.Log(imdbMeanWords/imdbMedianWords))
	n := int(math.Round(math.Exp(mu + sigma*r.NormFloat64())))
	return min(max(n, imdbMinWords), imdbMaxWords)
}

// reviewOfWords strings random Amazon sentences together and cuts the result
// to exactly n words. The label is the first sentence's.
func reviewOfWords(r *rand.Rand, sents []amazonSentence, n int) (string, int) {
	first := sents[r.IntN(len(sents))]
	words := strings.Fields(first.Text)
	for len(words) < n {
		words = append(words, strings.Fields(sents[r.IntN(len(sents))].Text)...)
	}
	return strings.Join(words[:n], " "), first.Label
}

// writeIMDBLikeCSV writes n reviews with IMDB-like lengths as CSV (id, review,
// label), streaming, and returns the total words written.
func writeIMDBLikeCSV(w io.Writer, n int, seed uint64) (int, error) {
	sents, err := amazonSentences()
	if err != nil {
		return 0, err
	}
	r := rand.New(rand.NewPCG(seed, 0x1bd6))
	bw := bufio.NewWriterSize(w, 256<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write([]string{"id", "review", "label"}); err != nil {
		return 0, err
	}
	total := 0
	for i := 1; i <= n; i++ {
		k := imdbWordCount(r)
		text, label := reviewOfWords(r, sents, k)
		total += k
		if err := cw.Write([]string{strconv.Itoa(i), text, strconv.Itoa(label)}); err != nil {
			return 0, err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return 0, err
	}
	return total, bw.Flush()
}

// midWindowReviews draws a window of IMDB-like reviews, orders it by length
// as predict orders a window, and returns n consecutive reviews from its
// middle (in draw order): a couple of typical batches of a real window,
// without scoring the whole window.
func midWindowReviews(n, window int, seed uint64) (texts []string, labels []int, err error) {
	sents, err := amazonSentences()
	if err != nil {
		return nil, nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0x1bd6))
	all, lab, words := make([]string, window), make([]int, window), make([]int, window)
	for i := range all {
		words[i] = imdbWordCount(r)
		all[i], lab[i] = reviewOfWords(r, sents, words[i])
	}
	order := make([]int, window)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return words[order[a]] < words[order[b]] })
	lo := max((window-n)/2, 0)
	pick := append([]int(nil), order[lo:min(lo+n, window)]...)
	sort.Ints(pick)
	for _, i := range pick {
		texts, labels = append(texts, all[i]), append(labels, lab[i])
	}
	return texts, labels, nil
}

// writeReviewsCSV writes texts as CSV (id, review, label).
func writeReviewsCSV(w io.Writer, texts []string, labels []int) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write([]string{"id", "review", "label"}); err != nil {
		return err
	}
	for i, t := range texts {
		if err := cw.Write([]string{strconv.Itoa(i + 1), t, strconv.Itoa(labels[i])}); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// reviewCorpus is ~size bytes of reviews of 1–5 Amazon sentences each (as
// the tokenizer's own benchmark builds it).
func reviewCorpus(size int, seed uint64) ([]string, int, error) {
	sents, err := amazonSentences()
	if err != nil {
		return nil, 0, err
	}
	r := rand.New(rand.NewPCG(seed, 5))
	var reviews []string
	total := 0
	for total < size {
		parts := make([]string, 1+r.IntN(5))
		for i := range parts {
			parts[i] = sents[r.IntN(len(sents))].Text
		}
		s := strings.Join(parts, " ")
		reviews = append(reviews, s)
		total += len(s)
	}
	return reviews, total, nil
}

// longReviews returns n reviews of `words` words each: long enough that the
// prompt builder cuts every one to exactly the training sequence length.
func longReviews(n, words int, seed uint64) ([]string, []int, error) {
	sents, err := amazonSentences()
	if err != nil {
		return nil, nil, err
	}
	r := rand.New(rand.NewPCG(seed, 7))
	texts, labels := make([]string, n), make([]int, n)
	for i := range texts {
		texts[i], labels[i] = reviewOfWords(r, sents, words)
	}
	return texts, labels, nil
}

// writeShortCSV writes n rows of single bundled Amazon sentences (real
// review sentences, ~13 words) as CSV (id, review, label).
func writeShortCSV(w io.Writer, n int, seed uint64) error {
	sents, err := amazonSentences()
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 0x5e7))
	bw := bufio.NewWriterSize(w, 256<<10)
	cw := csv.NewWriter(bw)
	if err := cw.Write([]string{"id", "review", "label"}); err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		s := sents[r.IntN(len(sents))]
		if err := cw.Write([]string{strconv.Itoa(i), s.Text, strconv.Itoa(s.Label)}); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}
