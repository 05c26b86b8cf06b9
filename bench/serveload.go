package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sentitune/sentitune/predict"
)

// The serve load test (make loadtest): `sentitune serve` on the tiny model in a
// child process, driven over loopback by this process. Bounded: about two
// minutes, a few thousand requests. Targets (issue 19):
//   - 32 clients sending one IMDB-like review each reach ≥ 0.8× predict's rows/s on the same texts;
//   - while one client floods maximal requests, another's 1-text requests keep p99 ≤ 1 s with 0 errors;
//   - 64 concurrent clients sending 1–32 texts get 0 errors;
//   - RSS after the flood is within 20 % of the idle RSS;
//   - SIGTERM with --drain 3s in the middle of a flood exits 0 within the limit (plus one pass).
const (
	loadClients       = 32
	loadSingleReqs    = 384
	loadFloodConns    = 4 // the flooding client's connections
	loadFloodSeconds  = 20
	loadProbeThink    = 100 * time.Millisecond
	loadC64Clients    = 64
	loadC64PerClient  = 3
	loadDrain         = 3 * time.Second
	loadFloodWords    = 600 // a maximal request: as many 600-word reviews as the token limit takes
	loadRequestTokens = predict.DefaultServeRequestTokens
)

// LoadResult is bench/results/serve-load-<date>.json.
type LoadResult struct {
	Command     string       `json:"command"`
	Date        string       `json:"date"`
	WallSeconds float64      `json:"wall_seconds"`
	Machine     Machine      `json:"machine"`
	Load        []LoadSample `json:"load_average"` // other engineers' builds share these cores
	Model       string       `json:"model"`
	ServeArgs   string       `json:"serve_args"`

	PredictRowsPerS float64            `json:"predict_rows_per_s"` // the best of PredictRuns: the bar serve is held to
	PredictRuns     map[string]float64 `json:"predict_runs"`       // rows/s by batch size, before and after the serve run
	PredictNote     string             `json:"predict_note"`
	Single          LoadScenario       `json:"single_32_clients"`
	SingleRuns      []float64          `json:"single_runs_rows_per_s"`
	SingleRatio     float64            `json:"single_vs_predict"` // goal ≥ 0.8

	Flood      LoadScenario `json:"flood"`       // the flooding client
	FloodProbe LoadScenario `json:"flood_probe"` // the other client's 1-text requests: goal p99 ≤ 1 s, 0 errors
	C64        LoadScenario `json:"concurrency_64"`

	IdleRSSMiB       float64 `json:"idle_rss_mib"`
	FloodPeakRSSMiB  float64 `json:"flood_peak_rss_mib"`
	AfterRSSMiB      float64 `json:"after_flood_rss_mib"`
	AfterOverIdlePct float64 `json:"after_over_idle_pct"` // goal ≤ 20

	DrainSeconds  float64        `json:"drain_exit_s"` // SIGTERM to exit, --drain 3s, flood in flight
	DrainExitCode int            `json:"drain_exit_code"`
	DrainCodes    map[string]int `json:"drain_request_codes"` // answers of the requests in flight at SIGTERM
	DrainLog      string         `json:"drain_log"`

	Metrics map[string]float64 `json:"metrics"` // /metrics just before SIGTERM
	Checks  []LoadCheck        `json:"checks"`
}

// LoadScenario is one client population's outcome.
type LoadScenario struct {
	What      string         `json:"what"`
	Requests  int            `json:"requests"`
	Texts     int            `json:"texts"`
	Errors    int            `json:"errors"` // any answer but 200, or a transport error
	Codes     map[string]int `json:"codes"`
	Seconds   float64        `json:"seconds"`
	RowsPerS  float64        `json:"rows_per_s"`
	P50       float64        `json:"p50_s"`
	P99       float64        `json:"p99_s"`
	Max       float64        `json:"max_s"`
	FirstFail string         `json:"first_failure,omitempty"`
}

// LoadCheck is one target and whether the run met it.
type LoadCheck struct {
	Target string `json:"target"`
	Got    string `json:"got"`
	OK     bool   `json:"ok"`
}

// predictSameTexts is the child "serve-predict": predict's scorer on the
// texts the 32 clients send, as `sentitune predict` scores a file.
type servePredictSpec struct {
	Model string `json:"model"`
	Texts int    `json:"texts"` // imdbTexts(Texts, Seed)
	Seed  uint64 `json:"seed"`
	Batch int    `json:"batch"` // rows per forward pass (predict's --batch-size)
}

func childServePredict(raw []byte) (any, error) {
	var sp servePredictSpec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, err
	}
	texts, err := imdbTexts(sp.Texts, sp.Seed)
	if err != nil {
		return nil, err
	}
	sc, err := predict.NewScorer(predict.ScorerConfig{ModelDir: sp.Model, Device: "cpu", BatchSize: sp.Batch})
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	if _, err := sc.Score(texts[:16]); err != nil { // warm-up
		return nil, err
	}
	t0 := time.Now()
	if _, err := sc.Score(texts); err != nil {
		return nil, err
	}
	return map[string]float64{"rows_per_s": float64(len(texts)) / time.Since(t0).Seconds()}, nil
}

type loadClient struct {
	url   string
	token string
	http  *http.Client
}

// post sends texts and returns the status (0 on a transport error) and the error text.
func (c *loadClient) post(texts []string) (int, string) {
	body, _ := json.Marshal(predict.PredictRequest{Texts: texts})
	req, _ := http.NewRequest(http.MethodPost, c.url+"/v1/predict", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	var pr predict.PredictResponse
	if err := json.Unmarshal(b, &pr); err != nil || len(pr.Predictions) != len(texts) {
		return -1, fmt.Sprintf("bad answer (%v): %.200s", err, b)
	}
	return 200, ""
}

// tally collects one scenario's requests.
type tally struct {
	mu   sync.Mutex
	sc   LoadScenario
	lats []float64
}

func (t *tally) add(texts int, code int, msg string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sc.Codes == nil {
		t.sc.Codes = map[string]int{}
	}
	t.sc.Requests++
	t.sc.Codes[strconv.Itoa(code)]++
	if code != 200 {
		t.sc.Errors++
		if t.sc.FirstFail == "" {
			t.sc.FirstFail = fmt.Sprintf("%d %s", code, msg)
		}
		return
	}
	t.sc.Texts += texts
	t.lats = append(t.lats, d.Seconds())
}

func (t *tally) done(what string, elapsed time.Duration) LoadScenario {
	t.mu.Lock()
	defer t.mu.Unlock()
	sc := t.sc
	sc.What, sc.Seconds = what, round(elapsed.Seconds(), 2)
	sc.RowsPerS = round(float64(sc.Texts)/elapsed.Seconds(), 1)
	sort.Float64s(t.lats)
	if n := len(t.lats); n > 0 {
		sc.P50, sc.P99, sc.Max = round(t.lats[n/2], 3), round(t.lats[min(n-1, n*99/100)], 3), round(t.lats[n-1], 3)
	}
	return sc
}

func imdbTexts(n int, seed uint64) ([]string, error) {
	sents, err := amazonSentences()
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0x10ad))
	out := make([]string, n)
	for i := range out {
		out[i], _ = reviewOfWords(r, sents, imdbWordCount(r))
	}
	return out, nil
}

// serveProcess starts `sentitune serve` and returns it with its base URL.
func serveProcess(bin string, args []string, log *bytes.Buffer, logMu *sync.Mutex) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	urlc := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`listening on (http://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		close(urlc)
	}()
	select {
	case url, ok := <-urlc:
		if !ok {
			cmd.Wait()
			return nil, "", fmt.Errorf("serve exited before listening:\n%s", log.String())
		}
		return cmd, url, nil
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", errors.New("serve did not listen within 2 minutes")
	}
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return round(kb/1024, 1)
			}
		}
	}
	return 0
}

func scrapeMetrics(c *loadClient) map[string]float64 {
	out := map[string]float64{}
	resp, err := c.http.Get(c.url + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "_bucket{") {
			continue
		}
		if k, v, ok := strings.Cut(line, " "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				out[k] = f
			}
		}
	}
	return out
}

func waitIdle(c *loadClient, limit time.Duration) {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if m := scrapeMetrics(c); m["sentitune_serve_queue_texts"] == 0 {
			return
		}
	}
}

// runLoadTest runs the scenarios and writes serve-load-<date>.json and .md into o.out.
func runLoadTest(o options) error {
	begin := time.Now()
	res := &LoadResult{Command: strings.Replace(commandLine(), "make bench", "make loadtest", 1), Date: begin.UTC().Format(time.RFC3339), Machine: machineInfo()}
	res.Load = append(res.Load, loadSample("start"))
	work, err := os.MkdirTemp("", "sentitune-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	lr := &loadRun{res: res, model: filepath.Join(work, "tiny")}
	if err := lr.setup(o.sentitune); err != nil {
		return err
	}
	defer lr.kill()
	for _, phase := range []func() error{lr.singleRuns, lr.flood, lr.concurrency64, lr.drain} {
		if err := phase(); err != nil {
			return err
		}
	}
	lr.check()
	res.Load = append(res.Load, loadSample("end"))
	res.WallSeconds = round(time.Since(begin).Seconds(), 1)
	return writeLoadResult(o.out, begin, res)
}

// loadRun is one load test: the served model, the serve child and the results filled in phase by phase.
type loadRun struct {
	res    *LoadResult
	model  string
	single []string // the texts the 32 single-review clients send, and predict scores
	cmd    *exec.Cmd
	log    bytes.Buffer
	logMu  sync.Mutex
	c      *loadClient
}

const loadSingleSeed = 7

// setup writes the tiny model, measures predict's rate once, starts serve and warms it up.
func (lr *loadRun) setup(bin string) error {
	if out, err := exec.Command(bin, "init-model", "--preset", "tiny", "--seed", "1", "--out", lr.model).CombinedOutput(); err != nil {
		return fmt.Errorf("init-model: %v\n%s", err, out)
	}
	lr.res.Model = "init-model --preset tiny --seed 1 (2 layers, hidden 64, real Qwen tokenizer), f32, cpu"
	var err error
	if lr.single, err = imdbTexts(loadSingleReqs, loadSingleSeed); err != nil {
		return err
	}
	lr.res.PredictRuns = map[string]float64{}
	if err := lr.predictRate("run 1"); err != nil {
		return err
	}
	lr.res.PredictNote = "predict.Scorer.Score (what `sentitune predict` runs per window: sorted by length, cut into batches) on the same texts after a warm-up, " +
		"in a child process, at the default --batch-size 16 and at 4 (passes of ≤ 2,048 tokens like serve's), alternating with the two serve runs; the best of the four is the bar"

	args := []string{"--model", lr.model, "--device", "cpu", "--addr", "127.0.0.1:0", "--drain", loadDrain.String()}
	lr.res.ServeArgs = strings.Join(args, " ")
	cmd, url, err := serveProcess(bin, args, &lr.log, &lr.logMu)
	if err != nil {
		return err
	}
	lr.cmd = cmd
	lr.c = &loadClient{url: url, http: &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 0}}}

	// Warm-up to the working set of a full pass, then the idle RSS.
	warm, _ := imdbTexts(64, 3)
	for range 3 {
		if code, msg := lr.c.post(warm); code != 200 {
			return fmt.Errorf("warm-up: %d %s", code, msg)
		}
	}
	time.Sleep(time.Second)
	lr.res.IdleRSSMiB = rssMiB(cmd.Process.Pid)
	return nil
}

// kill stops the serve child unless the drain phase already saw it exit.
func (lr *loadRun) kill() {
	if lr.cmd != nil && lr.cmd.ProcessState == nil {
		lr.cmd.Process.Kill()
		lr.cmd.Wait()
	}
}

// predictRate measures predict's rows/s on the single-review texts at two batch sizes (the bar serve is held to).
func (lr *loadRun) predictRate(when string) error {
	for _, batch := range []int{predict.DefaultBatchSize, 4} {
		logf("loadtest: predict --batch-size %d on the %d texts the 32 clients send (%s) ...", batch, len(lr.single), when)
		var pr map[string]float64
		if _, err := runChild("serve-predict", servePredictSpec{Model: lr.model, Texts: len(lr.single), Seed: loadSingleSeed, Batch: batch}, &pr); err != nil {
			return err
		}
		v := round(pr["rows_per_s"], 1)
		lr.res.PredictRuns[fmt.Sprintf("batch %d, %s", batch, when)] = v
		lr.res.PredictRowsPerS = max(lr.res.PredictRowsPerS, v)
	}
	return nil
}

// singleRuns: 32 clients, one review per request, closed loop; twice, alternating with predict, as load
// from other processes comes and goes: the best run of each side is compared.
func (lr *loadRun) singleRuns() error {
	res := lr.res
	for run := 1; run <= 2; run++ {
		if run == 2 {
			if err := lr.predictRate("run 2"); err != nil {
				return err
			}
		}
		logf("loadtest: %d clients × 1 review, %d requests (run %d) ...", loadClients, len(lr.single), run)
		sc := lr.singleRun()
		res.SingleRuns = append(res.SingleRuns, sc.RowsPerS)
		errs := res.Single.Errors + sc.Errors
		if sc.RowsPerS > res.Single.RowsPerS {
			res.Single = sc
		}
		res.Single.Errors = errs
		res.Load = append(res.Load, loadSample(fmt.Sprintf("single run %d", run)))
	}
	res.SingleRatio = round(res.Single.RowsPerS/res.PredictRowsPerS, 2)
	return nil
}

func (lr *loadRun) singleRun() LoadScenario {
	var t tally
	next := make(chan int)
	go func() {
		for i := range lr.single {
			next <- i
		}
		close(next)
	}()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s := time.Now()
				code, msg := lr.c.post(lr.single[i : i+1])
				t.add(1, code, msg, time.Since(s))
			}
		}()
	}
	wg.Wait()
	return t.done("32 concurrent clients, each sending one IMDB-like review per request (closed loop); the better of 2 runs", time.Since(t0))
}

// flood: one client floods maximal requests while another sends 1-text requests; then RSS after.
func (lr *loadRun) flood() error {
	logf("loadtest: flood for %d s ...", loadFloodSeconds)
	long, _, err := longReviews(loadRequestTokens/512, loadFloodWords, 11)
	if err != nil {
		return err
	}
	probeTexts, _ := imdbTexts(400, 13)
	ctx, cancel := context.WithTimeout(context.Background(), loadFloodSeconds*time.Second)
	defer cancel()
	var flood, probe tally
	var wg sync.WaitGroup
	t0 := time.Now()
	for range loadFloodConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				s := time.Now()
				code, msg := lr.c.post(long)
				flood.add(len(long), code, msg, time.Since(s))
			}
		}()
	}
	peak := 0.0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			peak = max(peak, rssMiB(lr.cmd.Process.Pid))
			time.Sleep(200 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second) // the flood is queued before the probe starts
	tp := time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		s := time.Now()
		code, msg := lr.c.post(probeTexts[i%len(probeTexts) : i%len(probeTexts)+1])
		probe.add(1, code, msg, time.Since(s))
		time.Sleep(loadProbeThink)
	}
	probeElapsed := time.Since(tp)
	wg.Wait()
	res := lr.res
	res.Flood = flood.done(fmt.Sprintf("one client on %d connections, each sending maximal requests back to back: %d reviews of %d words (cut to 512 tokens: %d prompt tokens, the --max-request-tokens default)",
		loadFloodConns, len(long), loadFloodWords, loadRequestTokens), time.Since(t0))
	res.FloodProbe = probe.done(fmt.Sprintf("a second client sending 1 IMDB-like review per request, %v apart, during the flood", loadProbeThink), probeElapsed)
	res.FloodPeakRSSMiB = peak
	waitIdle(lr.c, time.Minute)
	time.Sleep(2 * time.Second)
	res.AfterRSSMiB = rssMiB(lr.cmd.Process.Pid)
	res.AfterOverIdlePct = round(100*(res.AfterRSSMiB-res.IdleRSSMiB)/res.IdleRSSMiB, 1)
	res.Load = append(res.Load, loadSample("flood"))
	return nil
}

// concurrency64: 64 clients, 1–32 short reviews per request; then the server's metrics.
func (lr *loadRun) concurrency64() error {
	logf("loadtest: %d clients × 1–32 texts ...", loadC64Clients)
	sents, err := amazonSentences()
	if err != nil {
		return err
	}
	var t tally
	var wg sync.WaitGroup
	t0 := time.Now()
	for k := range loadC64Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(k), 64))
			for range loadC64PerClient {
				texts := make([]string, 1+r.IntN(32))
				for i := range texts {
					texts[i] = sents[r.IntN(len(sents))].Text
				}
				s := time.Now()
				code, msg := lr.c.post(texts)
				t.add(len(texts), code, msg, time.Since(s))
			}
		}()
	}
	wg.Wait()
	lr.res.C64 = t.done(fmt.Sprintf("%d concurrent clients, %d requests each of 1–32 bundled Amazon review sentences", loadC64Clients, loadC64PerClient), time.Since(t0))
	lr.res.Load = append(lr.res.Load, loadSample("concurrency 64"))
	lr.res.Metrics = scrapeMetrics(lr.c)
	return nil
}

// drain: SIGTERM with a flood in flight must exit 0 within --drain plus one pass.
func (lr *loadRun) drain() error {
	logf("loadtest: SIGTERM during a flood (--drain %v) ...", loadDrain)
	long, _, _ := longReviews(loadRequestTokens/512, loadFloodWords, 17)
	var drained tally
	var wg sync.WaitGroup
	for range 2 * loadFloodConns { // more work than the limit allows
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, msg := lr.c.post(long)
			drained.add(len(long), code, msg, 0)
		}()
	}
	time.Sleep(time.Second)
	t0 := time.Now()
	lr.cmd.Process.Signal(syscall.SIGTERM)
	err := lr.cmd.Wait()
	res := lr.res
	res.DrainSeconds = round(time.Since(t0).Seconds(), 2)
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		res.DrainExitCode = ee.ExitCode()
	} else if err != nil {
		res.DrainExitCode = -1
	}
	lr.logMu.Lock()
	lines := strings.Split(strings.TrimSpace(lr.log.String()), "\n")
	lr.logMu.Unlock()
	res.DrainLog = strings.Join(lines[max(0, len(lines)-3):], "\n")
	wg.Wait()
	res.DrainCodes = drained.done("", time.Second).Codes
	return nil
}

// check records each target of the load test against what was measured.
func (lr *loadRun) check() {
	res := lr.res
	ok := func(target, got string, pass bool) { res.Checks = append(res.Checks, LoadCheck{target, got, pass}) }
	ok("32 single-review clients ≥ 0.8× predict's rows/s", fmt.Sprintf("best %.1f (runs %v) vs best predict %.1f rows/s = %.2f×", res.Single.RowsPerS, res.SingleRuns, res.PredictRowsPerS, res.SingleRatio),
		res.SingleRatio >= 0.8 && res.Single.Errors == 0)
	ok("during a flood, 1-text requests p99 ≤ 1 s, 0 errors", fmt.Sprintf("p99 %.3f s (p50 %.3f, max %.3f) over %d requests, %d errors",
		res.FloodProbe.P99, res.FloodProbe.P50, res.FloodProbe.Max, res.FloodProbe.Requests, res.FloodProbe.Errors),
		res.FloodProbe.P99 <= 1 && res.FloodProbe.Errors == 0 && res.FloodProbe.Requests > 0)
	ok("concurrency 64 with 1–32 texts: 0 errors", fmt.Sprintf("%d errors in %d requests (p99 %.2f s)", res.C64.Errors, res.C64.Requests, res.C64.P99),
		res.C64.Errors == 0)
	ok("RSS after the flood within 20 % of idle", fmt.Sprintf("%.0f MiB vs %.0f MiB idle (%+.1f %%), peak %.0f MiB",
		res.AfterRSSMiB, res.IdleRSSMiB, res.AfterOverIdlePct, res.FloodPeakRSSMiB), res.AfterOverIdlePct <= 20)
	ok(fmt.Sprintf("SIGTERM with --drain %v during a flood exits 0 within the limit + 2 s", loadDrain),
		fmt.Sprintf("exit %d after %.2f s; the %d requests in flight got %v", res.DrainExitCode, res.DrainSeconds, 2*loadFloodConns, res.DrainCodes), res.DrainExitCode == 0 && res.DrainSeconds <= loadDrain.Seconds()+2)
}

// writeLoadResult writes serve-load-<date>.{json,md} and fails when a target was missed.
func writeLoadResult(out string, begin time.Time, res *LoadResult) error {
	name := "serve-load-" + begin.Format("2006-01-02")
	if _, _, err := writeResults(out, name, res, renderLoadMarkdown(res)); err != nil {
		return err
	}
	logf("loadtest: wrote %s/%s.{json,md} in %.0f s", out, name, res.WallSeconds)
	failed := 0
	for _, ch := range res.Checks {
		mark := "ok  "
		if !ch.OK {
			mark, failed = "FAIL", failed+1
		}
		logf("loadtest: %s %s: %s", mark, ch.Target, ch.Got)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d load-test targets missed", failed, len(res.Checks))
	}
	return nil
}

func renderLoadMarkdown(r *LoadResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# serve load test, %s\n\n", r.Date)
	fmt.Fprintf(&b, "`%s` — %s, %d cores, %.0f GiB; %s; %.0f s.\n\n", r.Command, r.Machine.CPU, r.Machine.Cores, r.Machine.RAMGiB, r.Machine.Go, r.WallSeconds)
	fmt.Fprintf(&b, "Model: %s. Server: `sentitune serve %s` (all other limits at their defaults), loopback.\n\n", r.Model, r.ServeArgs)
	var loads []string
	for _, l := range r.Load {
		loads = append(loads, fmt.Sprintf("%s %.2f", l.After, l.Load1))
	}
	fmt.Fprintf(&b, "Load average (1 min) — other work shares these cores: %s.\n\n", strings.Join(loads, ", "))
	b.WriteString("| target | result | met |\n|---|---|---|\n")
	for _, c := range r.Checks {
		mark := "yes"
		if !c.OK {
			mark = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Target, c.Got, mark)
	}
	b.WriteString("\n| scenario | requests | texts | errors | rows/s | p50 s | p99 s | max s |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range []LoadScenario{r.Single, r.Flood, r.FloodProbe, r.C64} {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.1f | %.3f | %.3f | %.3f |\n", s.What, s.Requests, s.Texts, s.Errors, s.RowsPerS, s.P50, s.P99, s.Max)
	}
	var runs []string
	for k, v := range r.PredictRuns {
		runs = append(runs, fmt.Sprintf("%s: %.1f", k, v))
	}
	sort.Strings(runs)
	fmt.Fprintf(&b, "\npredict on the same texts, rows/s — %s; bar %.1f (%s).\n\n", strings.Join(runs, "; "), r.PredictRowsPerS, r.PredictNote)
	if n := r.Metrics["sentitune_serve_batches_total"]; n > 0 {
		fmt.Fprintf(&b, "Server metrics before SIGTERM: %.0f texts in %.0f forward passes (%.1f rows per pass), %.0f truncated, %.0f dropped.\n\n",
			r.Metrics["sentitune_serve_texts_total"], n, r.Metrics["sentitune_serve_batch_rows_sum"]/n,
			r.Metrics["sentitune_serve_truncated_texts_total"], r.Metrics["sentitune_serve_dropped_texts_total"])
	}
	fmt.Fprintf(&b, "Shutdown log:\n\n```text\n%s\n```\n", r.DrainLog)
	return b.String()
}
