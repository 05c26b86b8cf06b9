package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sentitune/sentitune/predict"
)

// TestSentituneProcess is not a test: the serve tests run this test binary with
// SENTITUNE_AS_CLI=1 so that it acts as the sentitune binary in a second process.
func TestSentituneProcess(t *testing.T) {
	if os.Getenv("SENTITUNE_AS_CLI") != "1" {
		return
	}
	args := strings.Split(os.Getenv("SENTITUNE_ARGS"), "\x1f")
	if err := newApp().Run(append([]string{"sentitune"}, args...)); err != nil {
		fmt.Fprintln(os.Stderr, "sentitune:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveProcess starts `sentitune serve` in a second process on a free
// loopback port and returns its base URL once it listens.
func serveProcess(t *testing.T, args ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSentituneProcess$")
	cmd.Env = append(os.Environ(), "SENTITUNE_AS_CLI=1", "SENTITUNE_ARGS="+strings.Join(append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), "\x1f"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var log bytes.Buffer
	urlc := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`listening on (http://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
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
			t.Fatalf("serve exited before listening:\n%s", log.String())
		}
		return cmd, url, &log
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start within 60 s:\n%s", log.String())
	}
	return nil, "", nil
}

// A load test from this process against serve in another: 1,000 requests
// from 16 concurrent clients, zero errors; then the limits; then SIGTERM
// with requests in flight, which must all complete.
func TestServeProcess(t *testing.T) {
	model := tinyPredictModel(t)
	cmd, url, log := serveProcess(t, "--model", model, "--device", "cpu", "--max-body", "64KiB", "--max-texts", "300")
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	post := func(body []byte) (int, []byte, error) {
		resp, err := client.Post(url+"/v1/predict", "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}

	const requests, clients = 1000, 16
	reviews := []string{"Great phone, works well.", "Broke after a week.", "Not bad for the price, but the battery is weak.",
		"Terrible customer service!!", "I love it.", "The case cracked on day two and the seller never answered my emails."}
	var mu sync.Mutex
	var latencies []time.Duration
	var failures []string
	next := make(chan int)
	go func() {
		for i := range requests {
			next <- i
		}
		close(next)
	}()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				texts := reviews[i%len(reviews) : i%len(reviews)+1+i%3%(len(reviews)-i%len(reviews))]
				body, _ := json.Marshal(predict.PredictRequest{Texts: texts})
				start := time.Now()
				code, b, err := post(body)
				d := time.Since(start)
				var pr predict.PredictResponse
				if err == nil {
					err = json.Unmarshal(b, &pr)
				}
				mu.Lock()
				latencies = append(latencies, d)
				if err != nil || code != 200 || len(pr.Predictions) != len(texts) {
					failures = append(failures, fmt.Sprintf("request %d: status %d, %v, %s", i, code, err, b))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed, e.g. %s", len(failures), requests, failures[0])
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	resp, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Status string              `json:"status"`
		Stats  predict.ServerStats `json:"stats"`
	}
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if health.Status != "ok" || health.Stats.Requests != requests || health.Stats.Errors != 0 {
		t.Fatalf("healthz %+v", health)
	}
	t.Logf("%d requests, %d concurrent: %.0f requests/s, latency p50 %v p99 %v; %d texts in %d micro-batches (%.1f per batch)",
		requests, clients, float64(requests)/elapsed.Seconds(), latencies[len(latencies)/2].Round(time.Millisecond),
		latencies[len(latencies)*99/100].Round(time.Millisecond), health.Stats.Texts, health.Stats.Batches,
		float64(health.Stats.Texts)/float64(health.Stats.Batches))

	for _, c := range []struct {
		name, body string
		code       int
	}{
		{"oversized body", `{"texts": ["` + strings.Repeat("long review ", 7000) + `"]}`, 413},
		{"too many texts", `{"texts": [` + strings.Repeat(`"a",`, 300) + `"a"]}`, 413},
		{"malformed JSON", `{"texts": [`, 400},
	} {
		code, b, err := post([]byte(c.body))
		if err != nil || code != c.code || !strings.Contains(string(b), `"error"`) {
			t.Errorf("%s: status %d, %v, %s; want %d with an error message", c.name, code, err, b, c.code)
		}
	}

	// Requests in flight when SIGTERM arrives are answered before the process exits.
	const inflight = 6
	big := make([]string, 256)
	for i := range big {
		big[i] = strings.Repeat(reviews[i%len(reviews)]+" ", 1+i%4)
	}
	body, _ := json.Marshal(predict.PredictRequest{Texts: big})
	codes := make(chan string, inflight)
	for range inflight {
		go func() {
			code, b, err := post(body)
			var pr predict.PredictResponse
			if err == nil {
				err = json.Unmarshal(b, &pr)
			}
			codes <- fmt.Sprintf("%d %d %v", code, len(pr.Predictions), err)
		}()
	}
	time.Sleep(500 * time.Millisecond) // accepted and queued: scoring 6×256 texts takes longer
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range inflight {
		if got := <-codes; got != "200 256 <nil>" {
			t.Errorf("in-flight request during shutdown: %s", got)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v:\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	if !strings.Contains(log.String(), fmt.Sprintf("stopped after %d requests", requests+3+inflight)) {
		t.Errorf("serve log:\n%s", log.String())
	}
}

// With --token-file only bearers of the token are served; SIGTERM while a
// flood is being scored exits 0 within --drain (plus one bounded pass), the
// requests it cut answered 503 — not after scoring everything, with exit 1.
func TestServeProcessTokenAndDrainLimit(t *testing.T) {
	model := tinyPredictModel(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-7f2a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, url, log := serveProcess(t, "--model", model, "--device", "cpu", "--token-file", tokenFile, "--drain", "1s", "--max-queue-tokens", "100000000")
	client := &http.Client{Timeout: 2 * time.Minute}
	post := func(token string, texts []string) (int, string) {
		body, _ := json.Marshal(predict.PredictRequest{Texts: texts})
		req, _ := http.NewRequest("POST", url+"/v1/predict", bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := post("", []string{"fine"}); code != 401 {
		t.Fatalf("no token: %d %s", code, b)
	}
	if code, b := post("wrong", []string{"fine"}); code != 401 {
		t.Fatalf("wrong token: %d %s", code, b)
	}
	if code, b := post("s3cret-7f2a", []string{"fine"}); code != 200 {
		t.Fatalf("right token: %d %s", code, b)
	}

	long := make([]string, 60) // 60 × 510 tokens: within --max-request-tokens, seconds of work
	for i := range long {
		long[i] = strings.Repeat(fmt.Sprintf("The battery died after %d days and support never answered. ", i), 60)
	}
	const inflight = 8 // with token-budget batching 4 requests could finish inside the drain limit
	codes := make(chan int, inflight)
	for range inflight {
		go func() {
			code, _ := post("s3cret-7f2a", long)
			codes <- code
		}()
	}
	time.Sleep(500 * time.Millisecond)
	t0 := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v:\n%s", err, log.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve still running 20 s after SIGTERM with --drain 1s:\n%s", log.String())
	}
	if d := time.Since(t0); d > 8*time.Second {
		t.Errorf("exit took %v after SIGTERM with --drain 1s", d)
	}
	cut := 0
	for range inflight {
		switch code := <-codes; code {
		case 503:
			cut++
		case 200:
		default:
			t.Errorf("request in flight at SIGTERM got %d", code)
		}
	}
	if cut == 0 || !strings.Contains(log.String(), "drain limit of 1s answered") {
		t.Errorf("%d requests cut; log:\n%s", cut, log.String())
	}
}

func TestServeFlagErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	twoWords := filepath.Join(dir, "two")
	os.WriteFile(empty, []byte("\n"), 0o600)
	os.WriteFile(twoWords, []byte("abc def\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--token-file", empty}, "is empty"},
		{[]string{"--token-file", twoWords}, "the token alone"},
		{[]string{"--token-file", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"--max-batch-tokens", "0"}, "--max-batch-tokens 0"},
		{[]string{"--max-request-tokens", "-1"}, "--max-request-tokens -1"},
		{[]string{"--max-queue-tokens", "100"}, "below --max-request-tokens"},
	} {
		_, err := runApp(t, "", append([]string{"serve", "--model", dir}, c.args...)...)
		var ee exitError
		if err == nil || !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want a usage error (exit 2) saying %q", c.args, err, c.want)
		}
	}
}
