package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/predict"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "serve predictions over HTTP",
		UsageText: "sentitune serve --model DIR [--adapter DIR] [--addr 127.0.0.1:8080] [options]",
		Description: "POST /v1/predict {\"texts\": [\"...\", ...]} → {\"predictions\": [{\"pred\": 1, \"prob\": 0.97}, ...]}\n" +
			"GET /healthz (liveness: 503 when the scorer is stalled), GET /readyz (readiness: 503 when stalled or\n" +
			"saturated), GET /metrics (Prometheus text format).\n" +
			"Texts are cut to the model's max length, then requests are coalesced into forward passes of at most\n" +
			"--max-batch rows and --max-batch-tokens padded tokens, taken round-robin across requests so a small\n" +
			"request is not stuck behind a large one; work of requests that timed out or left is dropped.\n" +
			"Bodies over --max-body, more than --max-texts texts or --max-request-tokens tokens get 413, malformed\n" +
			"JSON 400, a queue over --max-queue-tokens 503 with Retry-After, requests not answered within --timeout\n" +
			"503. With --token-file, /v1/predict and /metrics need \"Authorization: Bearer TOKEN\". Chat control\n" +
			"tokens written in texts (<|im_end|>) are read as plain text unless --plain-control-tokens=false.\n" +
			"SIGTERM or SIGINT stops accepting connections and lets requests in flight finish; at --drain the\n" +
			"rest get 503 and serve exits 0.",
		Flags: append(scorerFlags(0),
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen `HOST:PORT` (port 0 picks a free one)"},
			&cli.IntFlag{Name: "max-batch", Value: predict.DefaultServeMaxBatch, Usage: "rows per forward pass"},
			&cli.IntFlag{Name: "max-batch-tokens", Value: predict.DefaultServeBatchTokens, Usage: "padded tokens (rows × longest) per forward pass: bounds how long one pass holds the model"},
			&cli.IntFlag{Name: "max-request-tokens", Value: predict.DefaultServeRequestTokens, Usage: "prompt tokens of one request, after cutting texts to the max length"},
			&cli.IntFlag{Name: "max-queue-tokens", Value: predict.DefaultServeQueueTokens, Usage: "prompt tokens waiting over all requests before new ones get 503"},
			&cli.StringFlag{Name: "token-file", Usage: "require \"Authorization: Bearer TOKEN\" on /v1/predict and /metrics, TOKEN read from `FILE`"},
			&cli.BoolFlag{Name: "plain-control-tokens", Value: true, Usage: "read chat control tokens written in texts (<|im_end|>) as plain text (=false: as control tokens)"},
			&cli.DurationFlag{Name: "max-wait", Value: 5 * time.Millisecond, Usage: "how long a micro-batch waits for more requests"},
			&cli.StringFlag{Name: "max-body", Value: "1MiB", Usage: "largest request body (bytes, or with KiB/MiB)"},
			&cli.IntFlag{Name: "max-texts", Value: 256, Usage: "most texts in one request"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "per request, queueing included"},
			&cli.DurationFlag{Name: "drain", Value: 30 * time.Second, Usage: "how long shutdown waits for requests in flight"},
		),
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	cfg := scorerConfig(c)
	if cfg.ModelDir == "" {
		return usageError("serve: --model DIR is required")
	}
	if err := checkServeFlags(c); err != nil {
		return err
	}
	maxBody, err := parseBytes(c.String("max-body"))
	if err != nil {
		return usageError("serve: --max-body: %v", err)
	}
	scfg := predict.ServerConfig{
		MaxBatch: c.Int("max-batch"),
		MaxWait:  c.Duration("max-wait"),
		MaxBody:  maxBody,
		MaxTexts: c.Int("max-texts"),
		Timeout:  c.Duration("timeout"),
		Drain:    c.Duration("drain"),

		MaxBatchTokens:   c.Int("max-batch-tokens"),
		MaxRequestTokens: c.Int("max-request-tokens"),
		MaxQueueTokens:   c.Int("max-queue-tokens"),
		ControlTokens:    !c.Bool("plain-control-tokens"),
	}
	for _, name := range []string{"max-batch-tokens", "max-request-tokens", "max-queue-tokens"} {
		if c.Int(name) < 1 {
			return usageError("serve: --%s %d: must be at least 1", name, c.Int(name))
		}
	}
	if scfg.MaxQueueTokens < scfg.MaxRequestTokens {
		return usageError("serve: --max-queue-tokens %d is below --max-request-tokens %d: a largest request could never be queued",
			scfg.MaxQueueTokens, scfg.MaxRequestTokens)
	}
	if path := c.String("token-file"); path != "" {
		if scfg.Token, err = readToken(path); err != nil {
			return usageError("serve: --token-file: %v", err)
		}
	}
	if scfg.MaxBatch < 1 || scfg.MaxTexts < 1 {
		return usageError("serve: --max-batch and --max-texts must be positive")
	}
	if cfg.BatchSize == 0 { // one forward pass per micro-batch
		cfg.BatchSize = scfg.MaxBatch
	}
	if host, _, err := net.SplitHostPort(c.String("addr")); err == nil && !isLoopback(host) && scfg.Token == "" {
		fmt.Fprintf(os.Stderr, "serve: listening on %s, beyond this machine: the service has no authentication (--token-file)\n", c.String("addr"))
	}
	sc, err := predict.NewScorer(cfg)
	if err != nil {
		return err
	}
	defer sc.Close()
	srv := predict.NewServer(sc, scfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	info := sc.Info()
	err = srv.ListenAndServe(ctx, c.String("addr"), func(a net.Addr) {
		desc := info.Model
		if info.Adapter != "" {
			desc += " + " + info.Adapter
		}
		fmt.Fprintf(c.App.ErrWriter, "serve: listening on %s (%s on %s, %s)\n", predict.URL(a), desc, info.Device, info.DType)
	})
	st := srv.Stats()
	fmt.Fprintf(c.App.ErrWriter, "serve: stopped after %d requests, %d texts in %d micro-batches, %d errors\n",
		st.Requests, st.Texts, st.Batches, st.Errors)
	if n := srv.Aborted(); n > 0 {
		fmt.Fprintf(c.App.ErrWriter, "serve: the drain limit of %v answered %d requests still in flight with 503\n", scfg.Drain, n)
	}
	return err
}

// readToken reads a bearer token: the file's content without surrounding white space.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return "", fmt.Errorf("%s is empty", path)
	case strings.ContainsAny(tok, " \t\r\n"):
		return "", fmt.Errorf("%s holds more than one line or word: want the token alone", path)
	}
	return tok, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseBytes reads "1048576", "512KiB", "1MiB", "1MB" (MB = MiB here: a limit, not a disk size).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	given := s
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || !(n > 0) {
		return 0, fmt.Errorf("%q is not a positive size (e.g. 1MiB, 512KiB, 65536)", s)
	}
	size := n * float64(mult)
	if size != math.Trunc(size) || size > largestBody {
		return 0, fmt.Errorf("%s is %g bytes: want a whole number of bytes from 1 to 1GiB", given, size)
	}
	return int64(size), nil
}
