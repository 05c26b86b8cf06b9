package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sentitune/sentitune/internal/studio"
)

const chromiumPath = "/usr/bin/chromium" // installed by make setup

// TestStudioInBrowser drives sentitune studio in headless Chromium as a person would: the demo's
// sample is inspected and prepped, the tiny model trains a few steps while the loss curve grows,
// the run is evaluated, typed reviews and a file are scored, and the downloaded predictions are
// byte for byte those of sentitune predict on the same adapter. Then the page in Chinese.
// SENTITUNE_STUDIO_SCREENSHOTS=DIR writes a screenshot of each page there (docs/ holds some).
func TestStudioInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser through a whole training run (about a minute)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("no Chromium at " + chromiumPath + " (make setup installs it)")
	}
	repo, _ := filepath.Abs("../..")
	exe := filepath.Join(t.TempDir(), "sentitune")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if os.Getenv("SENTITUNE_TORCH_LIB") == "" {
		t.Setenv("SENTITUNE_TORCH_LIB", filepath.Join(repo, "build", "libsentitorch.so"))
	}
	ws := filepath.Join(t.TempDir(), "ws")
	t.Setenv("HF_HUB_CACHE", filepath.Join(t.TempDir(), "hf")) // the Model page lists no hub model
	t.Setenv("MODELSCOPE_CACHE", filepath.Join(t.TempDir(), "ms"))
	srv, err := studio.New(studio.Config{Workspace: ws, Exe: exe, Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(srv)
	defer web.Close()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.Headless, chromedp.WindowSize(1400, 1000))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 7*time.Minute)
	defer cancelTimeout()
	// Start the browser before subscribing to its console; on this context and no shorter one, since
	// the context of the first action is the browser's lifetime (a 1-minute one killed it mid-test).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	var consoleErrs []string
	var mu sync.Mutex
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				mu.Lock()
				consoleErrs = append(consoleErrs, m.String())
				mu.Unlock()
			}
		}
	}()
	shots := os.Getenv("SENTITUNE_STUDIO_SCREENSHOTS")
	shot := func(name string) {
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(filepath.Join(shots, name), png, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	shotOf := func(name, id string) { // one section of a page
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID(id)))
		if err == nil {
			err = os.WriteFile(filepath.Join(shots, name), png, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitFor polls a JavaScript condition; on timeout it names the condition and the page's status
	// lines, and when a job fails it stops at once with the job's log tail.
	waitFor := func(cond string, d time.Duration) {
		t.Helper()
		deadline, nextJobCheck := time.Now().Add(d), time.Now()
		for time.Now().Before(deadline) {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
			if err == nil && ok {
				return
			}
			if time.Now().After(nextJobCheck) {
				if failed := failedJob(web.URL); failed != "" {
					t.Fatalf("waiting for %s: %s", cond, failed)
				}
				nextJobCheck = time.Now().Add(time.Second)
			}
			time.Sleep(200 * time.Millisecond)
		}
		status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#jobs li, .error")].map(e => e.textContent).join(" | ")`))
		var jobs bytes.Buffer
		if resp, err := http.Get(web.URL + "/api/state"); err == nil {
			jobs.ReadFrom(resp.Body)
			resp.Body.Close()
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("waited %v for %s; page: %s\nconsole: %q\nserver: %s", d, cond, status, consoleErrs, jobs.String())
	}
	js := func(expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr)); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
	}

	// Data: the demo's sample is there; inspect it and run prep.
	do("open", chromedp.Navigate(web.URL+"/?lang=en"))
	waitFor(`document.getElementById("data-file").value === "uploads/amazon.jsonl"`, 10*time.Second)
	do("inspect", chromedp.Click(chromedp.ID("inspect-btn")))
	waitFor(`document.getElementById("ins-rows").textContent.startsWith("1000 rows") && document.getElementById("text-col").value === "text"`, 20*time.Second)
	js(`document.getElementById("prep-name").value = "amazon"`)
	do("prep", chromedp.Click(chromedp.ID("prep-btn")))
	waitFor(`document.getElementById("prep-stats").textContent.includes("train")`, 60*time.Second)
	shot("studio-data.png")

	// Train: the demo model (queued by --demo) and a few steps; the curve grows point by point.
	do("train tab", chromedp.Click(chromedp.CSS(`#tabs button[data-page="train"]`)))
	waitFor(`[...document.getElementById("train-model").options].some(o => o.value === "demo") && [...document.getElementById("train-data").options].some(o => o.value === "amazon")`, 60*time.Second)
	js(`for (const [id, v] of [["train-model","demo"],["train-data","amazon"],["train-name","r1"],["opt-max-steps","12"],["opt-batch-size","4"],["opt-max-len","64"],["opt-eval-every","4"],["opt-lr","0.002"],["opt-val-ratio","0.05"]]) {
		const el = document.getElementById(id); el.value = v; el.dispatchEvent(new Event(el.tagName === "INPUT" ? "input" : "change")); el.dispatchEvent(new Event("change")); }`)
	waitFor(`document.getElementById("train-command").textContent.includes("--max-steps 12") && document.getElementById("train-yaml").textContent.includes("max-steps: 12")`, 10*time.Second)
	// every finetune option in LLaMA-Factory's six groups; a select changes the command and the YAML at once
	waitFor(`["opt-quantization-bit", "opt-gradient-checkpointing", "opt-template", "opt-labels", "opt-label-map", "opt-modules-to-save"].every(id => document.getElementById(id)) && document.querySelectorAll("#train-options legend").length === 6`, 10*time.Second)
	setQuant := func(bits string) {
		js(`{const q = document.getElementById("opt-quantization-bit"); q.value = "` + bits + `"; q.dispatchEvent(new Event("change"))}`)
	}
	setQuant("4")
	waitFor(`document.getElementById("train-command").textContent.includes(" --quantization-bit 4 ") && document.getElementById("train-yaml").textContent.includes("quantization-bit: 4")`, 10*time.Second)
	setQuant("0")
	waitFor(`!document.getElementById("train-command").textContent.includes("quantization") && !document.getElementById("train-yaml").textContent.includes("quantization")`, 10*time.Second)
	js(`window.__live = []; new MutationObserver(() => window.__live.push(document.getElementById("train-live").textContent)).observe(document.getElementById("train-live"), {childList: true, characterData: true, subtree: true})`)
	js(`window.__points = []; new MutationObserver(() => window.__points.push(+document.getElementById("loss-chart").dataset.points)).observe(document.getElementById("loss-chart"), {attributes: true, childList: true})`)
	do("start", chromedp.Click(chromedp.ID("train-btn")))
	waitFor(`STATE.jobs.some(j => j.kind === "finetune" && j.state === "done")`, 150*time.Second)
	logged, err := os.ReadFile(filepath.Join(ws, "runs", "r1", "train_log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Count(logged, []byte("\n")) // 12 steps and the evaluations
	waitFor(fmt.Sprintf(`+document.getElementById("loss-chart").dataset.points === %d`, lines), 10*time.Second)
	points, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`window.__points`))
	if err != nil || len(points) < lines || lines < 13 || points[0] >= points[len(points)-1] {
		t.Errorf("loss curve updates %v (%v): want one redraw per logged line, growing", points, err)
	}
	// the live view: step of total, ETA and memory while it trains; each evaluation's accuracy a point
	evals := bytes.Count(logged, []byte(`"split":"eval"`))
	waitFor(fmt.Sprintf(`document.querySelectorAll("#acc-chart circle").length === %d && document.getElementById("train-live").textContent.includes("finished")`, evals), 10*time.Second)
	live, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__live`))
	sawETA := false
	for _, l := range live {
		sawETA = sawETA || strings.Contains(l, "/12") && strings.Contains(l, "ETA") && strings.Contains(l, "RSS")
	}
	if err != nil || !sawETA || evals < 2 {
		t.Errorf("live view %q (%v), %d evaluations: want step N/12 with an ETA and the RSS while it trained", live, err, evals)
	}
	shot("studio-train.png")

	// Model: the demo model's shape and the memory plan of the Train form's run, as loaded and at 8 and 4 bits.
	do("model tab", chromedp.Click(chromedp.CSS(`#tabs button[data-page="model"]`)))
	waitFor(`[...document.getElementById("plan-model").options].some(o => o.value === "demo") && document.getElementById("hub-list").textContent === "none"`, 10*time.Second)
	js(`document.getElementById("plan-model").value = "demo"; document.getElementById("plan-device").value = "cpu"`)
	do("plan", chromedp.Click(chromedp.ID("plan-btn")))
	waitFor(`document.querySelectorAll("#plan-table tr").length === 11 && document.getElementById("model-detail").textContent.includes("parameters")`, 20*time.Second)
	shot("studio-model.png")

	// Evaluate: report.html in the page.
	do("evaluate tab", chromedp.Click(chromedp.CSS(`#tabs button[data-page="evaluate"]`)))
	js(`document.getElementById("eval-run").value = "r1"`)
	do("evaluate", chromedp.Click(chromedp.ID("eval-btn")))
	waitFor(`document.getElementById("report-frame").contentDocument?.body?.textContent.includes("ccuracy")`, 120*time.Second)
	shot("studio-evaluate.png")

	// Threshold: score the validation rows, move the slider, save the threshold for predict.
	js(`document.getElementById("thr-run").value = "r1"`)
	do("score validation", chromedp.Click(chromedp.ID("thr-score")))
	waitFor(`!document.getElementById("thr-view").hidden && document.getElementById("thr-tp").textContent !== ""`, 120*time.Second)
	val := readScored(t, filepath.Join(ws, "runs", "r1", "val", "predictions.jsonl"))
	slide := func(v float64) (tp, fp, tn, fn int) {
		t.Helper()
		js(fmt.Sprintf(`{const s = document.getElementById("thr-slider"); s.value = %v; s.dispatchEvent(new Event("input"))}`, v))
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`["thr-tp","thr-fp","thr-tn","thr-fn"].map(id => +document.getElementById(id).textContent)`))
		if err != nil || len(got) != 4 {
			t.Fatalf("confusion counts at %v: %v %v", v, got, err)
		}
		return got[0], got[1], got[2], got[3]
	}
	chosen := math.Round(median(val)*1000) / 1000 // the slider's step
	for _, v := range []float64{0, 0.25, chosen, 0.75, 1} {
		tp, fp, tn, fn := slide(v)
		want := confusionAt(val, v)
		if [4]int{tp, fp, tn, fn} != want {
			t.Errorf("threshold %v: the page shows tp fp tn fn %v, the validation predictions give %v", v, [4]int{tp, fp, tn, fn}, want)
		}
	}
	slide(chosen)
	do("save threshold", chromedp.Click(chromedp.ID("thr-save")))
	waitFor(`document.getElementById("thr-saved").textContent.includes("predict.yaml")`, 10*time.Second)
	saved, _ := os.ReadFile(filepath.Join(ws, "runs", "r1", "predict.yaml"))
	if !strings.Contains(string(saved), fmt.Sprintf("threshold: %v\n", chosen)) {
		t.Errorf("predict.yaml after saving %v: %q", chosen, saved)
	}
	shotOf("studio-threshold.png", "threshold-section")

	// Try it: typed reviews, then a file whose download must equal sentitune predict's output.
	do("try tab", chromedp.Click(chromedp.CSS(`#tabs button[data-page="try"]`)))
	js(`document.getElementById("try-run").value = "r1"; document.getElementById("try-text").value = "great product, works well\nbroke after one day"`)
	do("score typed", chromedp.Click(chromedp.ID("try-btn")))
	waitFor(`document.querySelectorAll("#try-out tr").length === 3`, 60*time.Second)
	reviews := filepath.Join(t.TempDir(), "reviews.csv")
	os.WriteFile(reviews, []byte("text,label\ngreat value,1\nstopped working,0\n\"fine, I guess\",1\n"), 0o644)
	do("score file", chromedp.SetUploadFiles(chromedp.ID("score-file"), []string{reviews}), chromedp.Click(chromedp.ID("score-btn")))
	waitFor(`!document.getElementById("score-download").hidden`, 60*time.Second)
	shot("studio-try.png")
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.getElementById("score-download").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(t.TempDir(), "direct.csv")
	cmd := exec.Command(exe, "predict", "--config", filepath.Join(ws, "runs", "r1", "predict.yaml"), "--model", filepath.Join(ws, "models", "demo"), "--adapter", filepath.Join(ws, "runs", "r1", "adapter"), "--input", reviews, "--out", want)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sentitune predict: %v\n%s", err, out)
	}
	wantBytes, _ := os.ReadFile(want)
	if !bytes.Equal([]byte(got), wantBytes) || len(wantBytes) == 0 {
		t.Errorf("downloaded predictions differ from sentitune predict's:\n%s\nwant\n%s", got, wantBytes)
	}
	checkThresholdUsed(t, got, chosen)

	// The most confident mistakes of the test split, with their texts.
	do("mistakes", chromedp.Click(chromedp.ID("mis-btn")))
	waitFor(`document.querySelectorAll("#mis-table tr").length > 1`, 10*time.Second)
	test := readScored(t, filepath.Join(ws, "runs", "r1", "report", "predictions.jsonl"))
	first, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#mis-table tr")].slice(1).map(tr => tr.cells[0].textContent)`))
	if want := surestMistakes(test); err != nil || len(first) != min(20, len(want)) || first[0] != want[0] {
		t.Errorf("mistakes shown %q (%v), want the %d surest of %d wrong rows, first %q", first, err, min(20, len(want)), len(want), want[:1])
	}

	// A second run to compare with, trained while the page moves on (one job at a time).
	js(`api("POST", "/api/train", {model: "demo", data: "amazon", name: "r2", resume: false, dry_run: false,
		options: {"max-steps": "6", "batch-size": "4", "max-len": "64", "lr": "0.001", "val-ratio": "0.05", "seed": "7"}})`)

	// Runs, then the same page in Chinese.
	do("runs tab", chromedp.Click(chromedp.CSS(`#tabs button[data-page="runs"]`)))
	waitFor(`document.getElementById("runs-table").textContent.includes("r1")`, 10*time.Second)
	shot("studio-runs.png")
	do("zh", chromedp.Navigate(web.URL+"/?lang=zh#train"))
	waitFor(`document.querySelector('#tabs button[data-page="train"]').textContent === "训练" && document.querySelector("#page-train h2").textContent === "微调"`, 10*time.Second)
	shot("studio-train-zh.png")

	// In Chinese: evaluate the second run, compare the two, score a typed review.
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(ws, "runs", "r2")); err == nil {
			break // finetune has started the second run
		}
		if failed := failedJob(web.URL); failed != "" {
			t.Fatalf("waiting for runs/r2: %s", failed)
		}
	}
	do("zh evaluate tab", chromedp.Click(chromedp.CSS(`#tabs button[data-page="evaluate"]`)))
	waitFor(`[...document.getElementById("eval-run").options].some(o => o.value === "r2")`, 10*time.Second)
	js(`document.getElementById("eval-run").value = "r2"`)
	do("zh evaluate", chromedp.Click(chromedp.ID("eval-btn")))
	waitFor(`STATE.jobs.some(j => j.kind === "eval" && j.out === "runs/r2/report" && j.state === "done")`, 180*time.Second)
	compare := func(lead string) {
		t.Helper()
		js(`document.getElementById("cmp-a").value = "r1"; document.getElementById("cmp-b").value = "r2"`)
		do("compare", chromedp.Click(chromedp.ID("cmp-btn")))
		waitFor(`document.getElementById("cmp-mcnemar").textContent.includes("McNemar") && document.getElementById("cmp-chart").dataset.series === "4"`, 10*time.Second)
		line, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("cmp-mcnemar").textContent`))
		accs, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#cmp-table tr")[1].cells].slice(1).map(c => c.textContent)`))
		want := []string{fmt.Sprintf("%.4f", accuracyOf(test)), fmt.Sprintf("%.4f", accuracyOf(readScored(t, filepath.Join(ws, "runs", "r2", "report", "predictions.jsonl"))))}
		if !strings.Contains(line, lead) || len(accs) != 2 || accs[0] != want[0] || accs[1] != want[1] {
			t.Errorf("compare: %q, accuracies %q; want %q and accuracies %q", line, accs, lead, want)
		}
	}
	compare("不一致样本对")
	do("zh try tab", chromedp.Click(chromedp.CSS(`#tabs button[data-page="try"]`)))
	js(`document.getElementById("try-run").value = "r2"; document.getElementById("try-text").value = "质量很好，非常满意\n用了一天就坏了"`)
	do("zh score typed", chromedp.Click(chromedp.ID("try-btn")))
	waitFor(`document.querySelectorAll("#try-out tr").length === 3 && document.querySelector("#try-out").textContent.includes("质量很好")`, 60*time.Second)

	// Back in English: the comparison for docs/, the runs sorted by test accuracy, and a deletion.
	do("en compare", chromedp.Navigate(web.URL+"/?lang=en#evaluate"))
	waitFor(`[...document.getElementById("cmp-b").options].some(o => o.value === "r2")`, 10*time.Second)
	compare("discordant pairs")
	// Loss curves on a log y-axis by default (a fall from ~14 to ~0.7 keeps its tail), linear unticked.
	checkLossScale := func(scale string) {
		t.Helper()
		waitFor(`document.getElementById("cmp-chart").dataset.scale === "`+scale+`"`, 10*time.Second)
		pixels, err1 := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`document.querySelector("#cmp-chart polyline.series").getAttribute("points").trim().split(" ").map(p => +p.split(",")[1])`))
		losses, err2 := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`CMP.runs[0].curves.loss.map(q => q[1])`))
		if off := scaleResidual(pixels, losses, scale == "log"); err1 != nil || err2 != nil || off > 0.5 {
			t.Errorf("compare chart, %s scale: r1's loss pixels %v are %.2f px off its losses %v (%v, %v)", scale, pixels, off, losses, err1, err2)
		}
	}
	checkLossScale("log")
	if ticks, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#cmp-chart .ytick").length`)); ticks == 0 {
		t.Error("compare chart: no ticks on its log axis")
	}
	js(`document.getElementById("cmp-log").click()`)
	checkLossScale("linear")
	js(`document.getElementById("cmp-log").click()`)
	checkLossScale("log")
	shotOf("studio-compare.png", "compare-section")
	do("runs tab again", chromedp.Click(chromedp.CSS(`#tabs button[data-page="runs"]`)))
	waitFor(`document.getElementById("runs-table").textContent.includes("r2")`, 10*time.Second)
	best := "r1"
	if accuracyOf(readScored(t, filepath.Join(ws, "runs", "r2", "report", "predictions.jsonl"))) > accuracyOf(test) {
		best = "r2"
	}
	js(`document.querySelector('#runs-table th[data-col="test_accuracy"]').click(); document.querySelector('#runs-table th[data-col="test_accuracy"]').click()`)
	tie := accuracyOf(readScored(t, filepath.Join(ws, "runs", "r2", "report", "predictions.jsonl"))) == accuracyOf(test)
	if top, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("runs-table").rows[1].cells[0].textContent`)); top != best && !tie {
		t.Errorf("runs by test accuracy, descending: %s first, want %s", top, best)
	}
	js(`window.confirm = (m) => { window.__asked = m; return true }`)
	js(`[...document.getElementById("runs-table").rows].find(r => r.cells[0].textContent === "r2").querySelector("button").click()`)
	waitFor(`!document.getElementById("runs-table").textContent.includes("r2") && window.__asked.includes("r2")`, 10*time.Second)
	if _, err := os.Stat(filepath.Join(ws, "runs", "r2")); !os.IsNotExist(err) {
		t.Errorf("runs/r2 after deleting it: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(consoleErrs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(consoleErrs, "\n"))
	}
}

// scoredRow is a row of a report's predictions.jsonl.
type scoredRow struct {
	Text  string  `json:"text"`
	Label int     `json:"label"`
	Pred  int     `json:"pred"`
	Prob  float64 `json:"prob"`
}

func readScored(t *testing.T, path string) []scoredRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []scoredRow
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r scoredRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, r)
	}
	return rows
}

func median(rows []scoredRow) float64 {
	p := make([]float64, len(rows))
	for i, r := range rows {
		p[i] = r.Prob
	}
	sort.Float64s(p)
	return p[len(p)/2]
}

// confusionAt is tp, fp, tn, fn when prob >= v predicts 1.
func confusionAt(rows []scoredRow, v float64) (c [4]int) {
	for _, r := range rows {
		switch pred := r.Prob >= v; {
		case pred && r.Label == 1:
			c[0]++
		case pred:
			c[1]++
		case r.Label == 0:
			c[2]++
		default:
			c[3]++
		}
	}
	return c
}

func accuracyOf(rows []scoredRow) float64 {
	right := 0
	for _, r := range rows {
		if r.Pred == r.Label {
			right++
		}
	}
	return float64(right) / float64(len(rows))
}

// surestMistakes are the texts of the wrong rows, the most confident first.
func surestMistakes(rows []scoredRow) []string {
	var wrong []scoredRow
	for _, r := range rows {
		if r.Pred != r.Label {
			wrong = append(wrong, r)
		}
	}
	conf := func(r scoredRow) float64 { // the probability of the predicted class
		if r.Pred == 1 {
			return r.Prob
		}
		return 1 - r.Prob
	}
	slices.SortStableFunc(wrong, func(a, b scoredRow) int { return cmp.Compare(conf(b), conf(a)) })
	texts := make([]string, len(wrong))
	for i, r := range wrong {
		texts[i] = r.Text
	}
	return texts
}

// checkThresholdUsed checks a predictions CSV (id, label, pred, prob) says pred = 1 exactly when prob >= threshold.
func checkThresholdUsed(t *testing.T, file string, threshold float64) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(file)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("predictions CSV: %v: %q", err, file)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, r := range recs[1:] {
		prob, _ := strconv.ParseFloat(r[col["prob"]], 64)
		if want := map[bool]string{true: "1", false: "0"}[prob >= threshold]; r[col["pred"]] != want {
			t.Errorf("row %q: pred %s with prob %v and the saved threshold %v", r, r[col["pred"]], prob, threshold)
		}
	}
}
