package predict

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
)

func postJSON(t testing.TB, url string, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/v1/predict", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestServePredict(t *testing.T) {
	srv := newServer(&fakeServe{}, ServerConfig{})
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	texts := []string{"great value", "broke in a week", "<b>ok</b>"}
	body, _ := json.Marshal(PredictRequest{Texts: texts})
	code, b := postJSON(t, ts.URL, string(body))
	if code != 200 {
		t.Fatalf("status %d: %s", code, b)
	}
	var resp PredictResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Predictions) != 3 {
		t.Fatalf("%s", b)
	}
	for i, p := range resp.Predictions {
		want := fakeProb(cleanText(texts[i]))
		if p.Prob != want || p.Pred != b2i(want >= 0.5) {
			t.Errorf("text %d: %+v, want prob %v", i, p, want)
		}
	}
	res, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(hb), `"status":"ok"`) || !strings.Contains(string(hb), `"texts":3`) {
		t.Fatalf("healthz %d %s", res.StatusCode, hb)
	}
}

func TestServeBadRequests(t *testing.T) {
	srv := newServer(&fakeServe{}, ServerConfig{MaxBody: 1000, MaxTexts: 4})
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	cases := []struct {
		name, body string
		code       int
		want       string
	}{
		{"malformed", `{"texts": ["a",}`, 400, "malformed JSON"},
		{"not an object", `["a"]`, 400, "malformed JSON"},
		{"wrong type", `{"texts": "a"}`, 400, "malformed JSON"},
		{"unknown field", `{"text": ["a"]}`, 400, `unknown field "text"`},
		{"trailing data", `{"texts": ["a"]} {}`, 400, "unexpected data"},
		{"empty body", ``, 400, "empty body"},
		{"missing texts", `{}`, 400, `missing "texts"`},
		{"no texts", `{"texts": []}`, 400, `"texts" is empty`},
		{"empty text", `{"texts": ["fine", "  "]}`, 400, "texts[1] is empty"},
		{"too many texts", `{"texts": ["a","b","c","d","e"]}`, 413, "limit is 4"},
		{"body too large", `{"texts": ["` + strings.Repeat("x", 2000) + `"]}`, 413, "limit of 1000 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b := postJSON(t, ts.URL, c.body)
			var e errorBody
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
				t.Fatalf("error body %s is not {\"error\": ...}", b)
			}
			if code != c.code || !strings.Contains(e.Error, c.want) {
				t.Fatalf("status %d error %q; want %d and %q", code, e.Error, c.code, c.want)
			}
		})
	}
	t.Run("chunked body too large", func(t *testing.T) {
		// No Content-Length: the limit must hold while reading.
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(`{"texts": ["`))
			pw.Write(bytes.Repeat([]byte("y"), 5000))
			pw.Write([]byte(`"]}`))
			pw.Close()
		}()
		resp, err := http.Post(ts.URL+"/v1/predict", "application/json", pr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("GET predict", func(t *testing.T) {
		resp, err := http.Get(ts.URL + "/v1/predict")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestServeScorerErrorAndTimeout(t *testing.T) {
	t.Run("error", func(t *testing.T) {
		srv := newServer(&fakeServe{fail: errors.New("CUDA out of memory")}, ServerConfig{})
		defer srv.Close()
		ts := httptest.NewServer(srv.Handler())
		defer ts.Close()
		code, b := postJSON(t, ts.URL, `{"texts": ["a"]}`)
		if code != 500 || !strings.Contains(string(b), "CUDA out of memory") {
			t.Fatalf("%d %s", code, b)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := newServer(&fakeServe{delay: 300 * time.Millisecond}, ServerConfig{Timeout: 50 * time.Millisecond})
		defer srv.Close()
		ts := httptest.NewServer(srv.Handler())
		defer ts.Close()
		code, b := postJSON(t, ts.URL, `{"texts": ["a"]}`)
		if code != 503 || !strings.Contains(string(b), "timed out") {
			t.Fatalf("%d %s", code, b)
		}
	})
}

// Concurrent requests share micro-batches, and each gets its own rows back.
func TestServeCoalescesRequests(t *testing.T) {
	f := &fakeServe{delay: 20 * time.Millisecond}
	srv := newServer(f, ServerConfig{MaxBatch: 64, MaxWait: 10 * time.Millisecond})
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	const clients, perClient = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range perClient {
				texts := []string{fmt.Sprintf("client %d request %d", c, r), fmt.Sprintf("second text %d/%d", c, r)}
				body, _ := json.Marshal(PredictRequest{Texts: texts})
				resp, err := http.Post(ts.URL+"/v1/predict", "application/json", bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				var pr PredictResponse
				err = json.NewDecoder(resp.Body).Decode(&pr)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || len(pr.Predictions) != 2 {
					errs <- fmt.Errorf("status %d, %v, %+v", resp.StatusCode, err, pr)
					return
				}
				for i, p := range pr.Predictions {
					if p.Prob != fakeProb(texts[i]) {
						errs <- fmt.Errorf("client %d request %d text %d: prob %v, want %v (rows mixed up)", c, r, i, p.Prob, fakeProb(texts[i]))
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.Requests != clients*perClient || st.Texts != 2*clients*perClient || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.Batches >= st.Requests/2 {
		t.Fatalf("%d micro-batches for %d requests: requests were not coalesced", st.Batches, st.Requests)
	}
	t.Logf("%d requests in %d micro-batches (%.1f texts per batch)", st.Requests, st.Batches, float64(st.Texts)/float64(st.Batches))
}

// Shutdown lets requests in flight finish, then refuses new connections.
func TestServeGracefulShutdown(t *testing.T) {
	f := &fakeServe{delay: 400 * time.Millisecond}
	srv := newServer(f, ServerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	url := URL(<-addrc)
	const inflight = 4
	results := make(chan int, inflight)
	for i := range inflight {
		go func() {
			code, _ := postJSON(t, url, fmt.Sprintf(`{"texts": ["in flight %d"]}`, i))
			results <- code
		}()
	}
	// Wait until the batcher holds the requests, then shut down.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		f.mu.Lock()
		n := len(f.passes)
		f.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("requests never reached the scorer")
		}
	}
	t0 := time.Now()
	cancel()
	for range inflight {
		if code := <-results; code != 200 {
			t.Fatalf("in-flight request got %d during shutdown", code)
		}
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if _, err := http.Post(url+"/v1/predict", "application/json", strings.NewReader(`{"texts":["late"]}`)); err == nil {
		t.Fatal("server still accepts requests after shutdown")
	}
}

// fakeServe encodes a text as its bytes (one token per byte) and scores a row
// with fakeProb of those bytes, so tests see which rows each pass held.
type fakeServe struct {
	mu       sync.Mutex
	passes   [][]int // lengths of the rows of each pass, recorded when it starts
	scored   int     // rows scored
	plain    []bool  // the plainControlTokens argument of each encode
	maxLen   int     // > 0: texts are cut to this many bytes
	delay    time.Duration
	perRow   time.Duration // added per row of a pass
	block    chan struct{} // non-nil: each pass waits for it to close
	fail     error
	observed func(pass []int) // called at the start of each pass
}

func (f *fakeServe) encodeServe(clean string, plain bool) ([]int, bool, error) {
	f.mu.Lock()
	f.plain = append(f.plain, plain)
	f.mu.Unlock()
	cut := false
	if f.maxLen > 0 && len(clean) > f.maxLen {
		clean, cut = clean[:f.maxLen], true
	}
	ids := make([]int, len(clean))
	for i := range clean {
		ids[i] = int(clean[i])
	}
	return ids, cut, nil
}

func (f *fakeServe) scoreRows(rows [][]int) ([]Score, error) {
	lens := make([]int, len(rows))
	for i, r := range rows {
		lens[i] = len(r)
	}
	f.mu.Lock()
	f.passes = append(f.passes, lens)
	obs := f.observed
	f.mu.Unlock()
	if obs != nil {
		obs(lens)
	}
	if f.block != nil {
		<-f.block
	}
	time.Sleep(f.delay + time.Duration(len(rows))*f.perRow)
	if f.fail != nil {
		return nil, f.fail
	}
	out := make([]Score, len(rows))
	for i, r := range rows {
		b := make([]byte, len(r))
		for k, id := range r {
			b[k] = byte(id)
		}
		p := fakeProb(string(b))
		out[i] = Score{Prob: p, Pred: b2i(p >= 0.5)}
	}
	f.mu.Lock()
	f.scored += len(rows)
	f.mu.Unlock()
	return out, nil
}

func (f *fakeServe) info() Info { return Info{Model: "fake"} }

func (f *fakeServe) counts() (passes, scored int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.passes), f.scored
}

func textsOfLengths(prefix string, lengths ...int) []string {
	out := make([]string, len(lengths))
	for i, n := range lengths {
		s := fmt.Sprintf("%s %d ", prefix, i)
		out[i] = s + strings.Repeat("x", max(n-len(s), 1))
	}
	return out
}

func predictBody(texts []string) string {
	b, _ := json.Marshal(PredictRequest{Texts: texts})
	return string(b)
}

// Every forward pass stays within the token budget (rows × longest row) and
// the row limit, however a request mixes lengths; answers stay in order.
func TestServeBatchTokenBudget(t *testing.T) {
	f := &fakeServe{}
	srv := newServer(f, ServerConfig{MaxBatch: 8, MaxBatchTokens: 400, MaxRequestTokens: 1 << 20})
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	lengths := make([]int, 60)
	for i := range lengths {
		lengths[i] = 20 + (i*37)%180
	}
	lengths[7] = 600 // longer than the budget: a pass of its own
	texts := textsOfLengths("row", lengths...)
	code, b := postJSON(t, ts.URL, predictBody(texts))
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	var resp PredictResponse
	json.Unmarshal(b, &resp)
	for i, p := range resp.Predictions {
		if p.Prob != fakeProb(cleanText(texts[i])) {
			t.Fatalf("text %d: rows mixed up", i)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, pass := range f.passes {
		longest := slices.Max(pass)
		if len(pass) > 8 || (len(pass) > 1 && longest*len(pass) > 400) {
			t.Fatalf("pass of %d rows, longest %d: over 8 rows or 400 tokens", len(pass), longest)
		}
	}
	if len(f.passes) >= len(texts) {
		t.Fatalf("%d passes for %d texts: no batching", len(f.passes), len(texts))
	}
}

// A request over the per-request token budget is refused before any scoring.
func TestServeRequestTokenBudget(t *testing.T) {
	f := &fakeServe{}
	srv := newServer(f, ServerConfig{MaxRequestTokens: 1000})
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	code, b := postJSON(t, ts.URL, predictBody(textsOfLengths("t", 400, 400, 400)))
	if code != 413 || !strings.Contains(string(b), "limit per request is 1000") {
		t.Fatalf("%d %s", code, b)
	}
	if p, _ := f.counts(); p != 0 {
		t.Fatalf("%d passes for a refused request", p)
	}
	if code, b := postJSON(t, ts.URL, predictBody(textsOfLengths("t", 400, 400))); code != 200 {
		t.Fatalf("within the budget: %d %s", code, b)
	}
}

// A small request arriving while a large one is being scored is answered
// within a couple of passes, not after the large one.
func TestServeFairness(t *testing.T) {
	f := &fakeServe{perRow: 5 * time.Millisecond}
	srv := newServer(f, ServerConfig{MaxBatch: 4, MaxBatchTokens: 1 << 20})
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	big := textsOfLengths("big", slices.Repeat([]int{50}, 200)...) // 50 passes of 4 rows: ≥ 1 s
	bigDone := make(chan time.Time, 1)
	go func() {
		code, b := postJSON(t, ts.URL, predictBody(big))
		if code != 200 {
			t.Errorf("big request: %d %s", code, b)
		}
		bigDone <- time.Now()
	}()
	for p, _ := f.counts(); p < 3; p, _ = f.counts() {
		time.Sleep(time.Millisecond)
	}
	t0 := time.Now()
	code, b := postJSON(t, ts.URL, predictBody([]string{"a small request"}))
	small := time.Since(t0)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	select {
	case <-bigDone:
		t.Fatalf("the small request (%v) was answered only after the big one", small)
	default:
	}
	if small > 500*time.Millisecond { // a round is 2 passes of ≤ 4 rows × 5 ms; the big request ≥ 1 s
		t.Fatalf("the small request took %v behind a big one", small)
	}
	<-bigDone
}

// Work of a request that timed out or whose client left is not scored.
func TestServeDropsAbandonedWork(t *testing.T) {
	for _, c := range []struct {
		name   string
		cfg    ServerConfig
		client time.Duration
	}{
		{"server timeout", ServerConfig{MaxBatch: 2, Timeout: 100 * time.Millisecond}, 10 * time.Second},
		{"client gone", ServerConfig{MaxBatch: 2}, 100 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeServe{perRow: 10 * time.Millisecond} // 100 rows: 1 s of work
			srv := newServer(f, c.cfg)
			defer srv.Close()
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			client := &http.Client{Timeout: c.client}
			resp, err := client.Post(ts.URL+"/v1/predict", "application/json",
				strings.NewReader(predictBody(textsOfLengths("r", slices.Repeat([]int{30}, 100)...))))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 503 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			time.Sleep(100 * time.Millisecond) // the pass under way may end
			_, scored := f.counts()
			time.Sleep(300 * time.Millisecond) // 30 rows' time: none may be scored now
			if _, later := f.counts(); later != scored || scored >= 100 {
				t.Fatalf("rows scored for an abandoned request: %d, then %d of 100", scored, later)
			}
			for deadline := time.Now().Add(2 * time.Second); srv.Stats().Dropped == 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no dropped rows counted: %+v", srv.Stats())
				}
			}
			if q := srv.Queue(); q.Texts != 0 || q.Requests != 0 {
				t.Fatalf("queue after the request left: %+v", q)
			}
		})
	}
}

func getHealth(t *testing.T, url string) (int, healthBody) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h healthBody
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h
}

// /healthz and /readyz tell a stalled scorer and a saturated queue; a full queue refuses with Retry-After.
func TestServeHealthStalledSaturated(t *testing.T) {
	t.Run("stalled", func(t *testing.T) {
		f := &fakeServe{block: make(chan struct{})}
		srv := newServer(f, ServerConfig{Timeout: 200 * time.Millisecond})
		defer srv.Close()
		defer close(f.block)
		ts := httptest.NewServer(srv.Handler())
		defer ts.Close()
		if code, h := getHealth(t, ts.URL+"/healthz"); code != 200 || h.Status != "ok" {
			t.Fatalf("idle: %d %+v", code, h)
		}
		go http.Post(ts.URL+"/v1/predict", "application/json", strings.NewReader(`{"texts": ["stuck"]}`))
		time.Sleep(400 * time.Millisecond)
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, h := getHealth(t, ts.URL+path); code != 503 || h.Status != "stalled" || !strings.Contains(h.Reason, "forward pass has run") {
				t.Fatalf("%s: %d %+v", path, code, h)
			}
		}
	})
	t.Run("saturated", func(t *testing.T) {
		f := &fakeServe{block: make(chan struct{})}
		srv := newServer(f, ServerConfig{MaxQueueTokens: 1000, MaxBatch: 1})
		defer srv.Close()
		ts := httptest.NewServer(srv.Handler())
		defer ts.Close()
		results := make(chan int, 3)
		post := func(n int) {
			code, _ := postJSON(t, ts.URL, predictBody(textsOfLengths("q", slices.Repeat([]int{100}, n)...)))
			results <- code
		}
		go post(1) // held by the blocked pass
		for p, _ := f.counts(); p == 0; p, _ = f.counts() {
			time.Sleep(time.Millisecond)
		}
		go post(6) // 600 tokens queued: over half the queue
		for srv.Queue().Tokens < 600 {
			time.Sleep(time.Millisecond)
		}
		if code, h := getHealth(t, ts.URL+"/healthz"); code != 200 || h.Status != "saturated" || h.Queue.Tokens != 600 {
			t.Fatalf("healthz: %d %+v", code, h)
		}
		if code, h := getHealth(t, ts.URL+"/readyz"); code != 503 || h.Status != "saturated" {
			t.Fatalf("readyz: %d %+v", code, h)
		}
		resp, err := http.Post(ts.URL+"/v1/predict", "application/json", strings.NewReader(predictBody(textsOfLengths("q", 300, 300))))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "saturated") {
			t.Fatalf("over the queue limit: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
		close(f.block)
		for range 2 {
			if code := <-results; code != 200 {
				t.Fatalf("queued request got %d", code)
			}
		}
		if code, h := getHealth(t, ts.URL+"/readyz"); code != 200 || h.Status != "ok" {
			t.Fatalf("readyz after: %d %+v", code, h)
		}
	})
}

// --drain is a hard limit: requests that cannot finish in it get 503, and
// ListenAndServe returns nil soon after the limit.
func TestServeDrainLimit(t *testing.T) {
	f := &fakeServe{perRow: 20 * time.Millisecond}
	srv := newServer(f, ServerConfig{MaxBatch: 4, Drain: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	url := URL(<-addrc)
	const inflight = 3 // 3 × 100 rows × 20 ms: 6 s of work
	codes := make(chan int, inflight)
	for i := range inflight {
		go func() {
			code, _ := postJSON(t, url, predictBody(textsOfLengths(fmt.Sprint("d", i), slices.Repeat([]int{40}, 100)...)))
			codes <- code
		}()
	}
	for p, _ := f.counts(); p < 2; p, _ = f.counts() {
		time.Sleep(time.Millisecond)
	}
	t0 := time.Now()
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("ListenAndServe after the drain limit: %v", err)
	}
	if d := time.Since(t0); d > 1500*time.Millisecond {
		t.Fatalf("shutdown with --drain 300ms took %v", d)
	}
	for range inflight {
		if code := <-codes; code != 503 {
			t.Fatalf("request cut by the drain limit got %d, want 503", code)
		}
	}
	if srv.Aborted() != inflight {
		t.Fatalf("aborted %d, want %d", srv.Aborted(), inflight)
	}
}

func TestServeBearerToken(t *testing.T) {
	srv := newServer(&fakeServe{}, ServerConfig{Token: "s3cret-token"})
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	do := func(method, path, auth, body string) (int, http.Header) {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	body := `{"texts": ["fine"]}`
	for _, c := range []struct {
		method, path, auth string
		want               int
	}{
		{"POST", "/v1/predict", "", 401},
		{"POST", "/v1/predict", "Bearer wrong", 401},
		{"POST", "/v1/predict", "Bearer s3cret-token-and-more", 401},
		{"POST", "/v1/predict", "Basic s3cret-token", 401},
		{"POST", "/v1/predict", "Bearer s3cret-token", 200},
		{"GET", "/metrics", "", 401},
		{"GET", "/metrics", "Bearer s3cret-token", 200},
		{"GET", "/healthz", "", 200}, // probes need no token
		{"GET", "/readyz", "", 200},
	} {
		code, h := do(c.method, c.path, c.auth, body)
		if code != c.want {
			t.Errorf("%s %s with %q: %d, want %d", c.method, c.path, c.auth, code, c.want)
		}
		if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without WWW-Authenticate: Bearer")
		}
	}
	if _, h := getHealth(t, ts.URL+"/healthz"); h.Model != nil {
		t.Errorf("healthz shows the model to anyone when a token guards the service: %+v", h.Model)
	}
}

// /metrics is the Prometheus text format: HELP and TYPE for every family,
// cumulative buckets ending in +Inf = _count, and the counts of what happened.
func TestServeMetrics(t *testing.T) {
	srv := newServer(&fakeServe{}, ServerConfig{MaxTexts: 3})
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for i := range 5 {
		if code, b := postJSON(t, ts.URL, predictBody([]string{fmt.Sprint("text ", i), "another"})); code != 200 {
			t.Fatalf("%d %s", code, b)
		}
	}
	postJSON(t, ts.URL, `{"texts": ["a","b","c","d"]}`) // 413
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
	sample := regexp.MustCompile(`^([a-z_]+)(\{[a-z]+="[^"]*"\})? (\S+)$`)
	typed := map[string]string{}
	values := map[string]float64{}
	var lastBucket float64 = -1
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			typed[f[2]] = f[3]
			lastBucket = -1
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a Prometheus sample line: %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		family := m[1]
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(family, suf); ok && typed[base] == "histogram" {
				family = base
			}
		}
		if typed[family] == "" {
			t.Fatalf("%q has no # TYPE line before it", line)
		}
		if strings.HasSuffix(m[1], "_bucket") {
			if v < lastBucket {
				t.Fatalf("buckets not cumulative at %q", line)
			}
			lastBucket = v
		}
		if strings.HasSuffix(m[1], "_count") && v != lastBucket {
			t.Fatalf("%q: _count differs from the +Inf bucket %v", line, lastBucket)
		}
		values[m[1]+m[2]] = v
	}
	for key, want := range map[string]float64{
		`sentitune_serve_requests_total{code="200"}`:                 5,
		`sentitune_serve_requests_total{code="413"}`:                 1,
		`sentitune_serve_errors_total`:                               1,
		`sentitune_serve_texts_total`:                                10,
		`sentitune_serve_request_duration_seconds_count`:             5,
		`sentitune_serve_queue_texts`:                                0,
		`sentitune_serve_batch_rows_sum`:                             10,
		`sentitune_serve_batches_total`:                              values[`sentitune_serve_batch_rows_count`],
		`sentitune_serve_batch_tokens_count`:                         values[`sentitune_serve_batches_total`],
		`sentitune_serve_batch_duration_seconds_count`:               values[`sentitune_serve_batches_total`],
		`sentitune_serve_queue_oldest_wait_seconds`:                  0,
		`sentitune_serve_truncated_texts_total`:                      0,
		`sentitune_serve_dropped_texts_total`:                        0,
		`sentitune_serve_queue_requests`:                             0,
		`sentitune_serve_queue_tokens`:                               0,
		`sentitune_serve_request_duration_seconds_bucket{le="+Inf"}`: 5,
	} {
		if got, ok := values[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
}

// Chat control tokens inside texts are plain text unless ControlTokens is set.
func TestServeControlTokensOption(t *testing.T) {
	for _, c := range []struct {
		cfg       ServerConfig
		wantPlain bool
	}{{ServerConfig{}, true}, {ServerConfig{ControlTokens: true}, false}} {
		f := &fakeServe{}
		srv := newServer(f, c.cfg)
		ts := httptest.NewServer(srv.Handler())
		if code, b := postJSON(t, ts.URL, `{"texts": ["ok<|im_end|>"]}`); code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		ts.Close()
		srv.Close()
		if len(f.plain) != 1 || f.plain[0] != c.wantPlain {
			t.Fatalf("ControlTokens %v: encoded with plain = %v", c.cfg.ControlTokens, f.plain)
		}
	}
}

// A long text is cut by bytes before tokenizing, with the same prompt ids as
// tokenizing it whole and truncating; the truncation is counted.
func TestEncodeBoundedMatchesFullTruncation(t *testing.T) {
	tok, err := tokenizer.LoadBundled()
	if err != nil {
		t.Fatal(err)
	}
	spec := task.PromptSpec{Instruction: "Is this review positive? Answer 1 or 0.", PlainText: true}
	long := strings.Repeat("The battery died after two days and support never answered, 电池续航太短了. ", 1000) // ~85 KB
	for _, maxLen := range []int{64, 512} {
		want, err := task.BuildPrompt(tok, spec, long, maxLen, 2)
		if err != nil {
			t.Fatal(err)
		}
		got, truncated, err := encodeBounded(tok, spec, long, maxLen, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || !truncated {
			t.Fatalf("max len %d: bounded %d ids (truncated %v), whole %d ids", maxLen, len(got), truncated, len(want))
		}
	}
	short := "Great phone."
	ids, truncated, err := encodeBounded(tok, spec, short, 512, 2)
	want, _ := task.BuildPrompt(tok, spec, short, 512, 2)
	if err != nil || truncated || !slices.Equal(ids, want) {
		t.Fatalf("short text: %v truncated %v", err, truncated)
	}
}

func TestCutBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"hello", 10, "hello", false},
		{"hello", 0, "hello", false},
		{"hello", 3, "hel", true},
		{"héllo", 2, "h", true}, // é is 2 bytes: never cut inside it
		{"电池", 4, "电", true},
	} {
		got, cut := cutBytes(c.in, c.n)
		if got != c.want || cut != c.cut || !utf8.ValidString(got) {
			t.Errorf("cutBytes(%q, %d) = %q, %v", c.in, c.n, got, cut)
		}
	}
}

// A request arriving at a batcher idle for longer than the timeout is not a stall.
func TestServeIdleIsNotStalled(t *testing.T) {
	f := &fakeServe{block: make(chan struct{})}
	srv := newServer(f, ServerConfig{Timeout: 300 * time.Millisecond, MaxWait: time.Second})
	defer srv.Close()
	defer close(f.block)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	time.Sleep(400 * time.Millisecond) // idle past the timeout
	go http.Post(ts.URL+"/v1/predict", "application/json", strings.NewReader(`{"texts": ["x"]}`))
	for srv.Queue().Texts == 0 {
		time.Sleep(time.Millisecond)
	}
	if code, h := getHealth(t, ts.URL+"/healthz"); code != 200 || h.Status != "ok" {
		t.Fatalf("a fresh request at an idle batcher: %d %+v", code, h)
	}
}
