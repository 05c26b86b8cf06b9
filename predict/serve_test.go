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
	"strings"
	"sync"
	"testing"
	"time"
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
	srv := newServer(&fakeScorer{}, ServerConfig{})
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
	srv := newServer(&fakeScorer{}, ServerConfig{MaxBody: 1000, MaxTexts: 4})
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
		srv := newServer(&fakeScorer{fail: errors.New("CUDA out of memory")}, ServerConfig{})
		defer srv.Close()
		ts := httptest.NewServer(srv.Handler())
		defer ts.Close()
		code, b := postJSON(t, ts.URL, `{"texts": ["a"]}`)
		if code != 500 || !strings.Contains(string(b), "CUDA out of memory") {
			t.Fatalf("%d %s", code, b)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := newServer(&fakeScorer{delay: 300 * time.Millisecond}, ServerConfig{Timeout: 50 * time.Millisecond})
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
	f := &fakeScorer{delay: 20 * time.Millisecond}
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
	f := &fakeScorer{delay: 400 * time.Millisecond}
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
		n := f.calls
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
