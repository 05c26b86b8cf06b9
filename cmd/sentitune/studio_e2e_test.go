package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
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
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	defer cancelTimeout()
	start, cancelStart := context.WithTimeout(ctx, time.Minute)
	defer cancelStart()
	if err := chromedp.Do(start); err != nil { // start the browser before subscribing to its console
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
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitFor polls a JavaScript condition; on timeout it names the condition and the page's status lines.
	waitFor := func(cond string, d time.Duration) {
		t.Helper()
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
			if err == nil && ok {
				return
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
	shot("studio-train.png")

	// Evaluate: report.html in the page.
	do("evaluate tab", chromedp.Click(chromedp.CSS(`#tabs button[data-page="evaluate"]`)))
	js(`document.getElementById("eval-run").value = "r1"`)
	do("evaluate", chromedp.Click(chromedp.ID("eval-btn")))
	waitFor(`document.getElementById("report-frame").contentDocument?.body?.textContent.includes("ccuracy")`, 120*time.Second)
	shot("studio-evaluate.png")

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
	cmd := exec.Command(exe, "predict", "--model", filepath.Join(ws, "models", "demo"), "--adapter", filepath.Join(ws, "runs", "r1", "adapter"), "--input", reviews, "--out", want)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sentitune predict: %v\n%s", err, out)
	}
	wantBytes, _ := os.ReadFile(want)
	if !bytes.Equal([]byte(got), wantBytes) || len(wantBytes) == 0 {
		t.Errorf("downloaded predictions differ from sentitune predict's:\n%s\nwant\n%s", got, wantBytes)
	}

	// Runs, then the same page in Chinese.
	do("runs tab", chromedp.Click(chromedp.CSS(`#tabs button[data-page="runs"]`)))
	waitFor(`document.getElementById("runs-table").textContent.includes("r1")`, 10*time.Second)
	shot("studio-runs.png")
	do("zh", chromedp.Navigate(web.URL+"/?lang=zh#train"))
	waitFor(`document.querySelector('#tabs button[data-page="train"]').textContent === "训练" && document.querySelector("#page-train h2").textContent === "微调"`, 10*time.Second)
	shot("studio-train-zh.png")
	mu.Lock()
	defer mu.Unlock()
	if len(consoleErrs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(consoleErrs, "\n"))
	}
}
