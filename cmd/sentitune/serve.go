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

// serveOptions is serve's command line.
type serveOptions struct {
	Scorer             predict.ScorerConfig
	Server             predict.ServerConfig
	Addr               string // listen HOST:PORT
	MaxBody            string // --max-body as given (1MiB), parsed into Server.MaxBody
	TokenFile          string // bearer token file
	PlainControlTokens bool   // Server.ControlTokens is its negation
}

func serveOptionTable() *options[serveOptions] {
	o := newOptions(serveOptions{
		Scorer: defaultScorer(0),
		Server: predict.ServerConfig{
			MaxBatch: predict.DefaultServeMaxBatch, MaxBatchTokens: predict.DefaultServeBatchTokens,
			MaxRequestTokens: predict.DefaultServeRequestTokens, MaxQueueTokens: predict.DefaultServeQueueTokens,
			MaxWait: predict.DefaultServeMaxWait, MaxTexts: predict.DefaultServeMaxTexts,
			Timeout: predict.DefaultServeTimeout, Drain: predict.DefaultServeDrain,
		},
		Addr: "127.0.0.1:8080", MaxBody: "1MiB", PlainControlTokens: true,
	})
	scorerOptions(o, func(s *serveOptions) *predict.ScorerConfig { return &s.Scorer })
	o.str("addr", "listen `HOST:PORT` (port 0 picks a free one)", func(s *serveOptions) *string { return &s.Addr })
	o.integer("max-batch", "rows per forward pass", func(s *serveOptions) *int { return &s.Server.MaxBatch })
	o.integer("max-batch-tokens", "padded tokens (rows × longest) per forward pass: bounds how long one pass holds the model", func(s *serveOptions) *int { return &s.Server.MaxBatchTokens })
	o.integer("max-request-tokens", "prompt tokens of one request, after cutting texts to the max length", func(s *serveOptions) *int { return &s.Server.MaxRequestTokens })
	o.integer("max-queue-tokens", "prompt tokens waiting over all requests before new ones get 503", func(s *serveOptions) *int { return &s.Server.MaxQueueTokens })
	o.str("token-file", "require \"Authorization: Bearer TOKEN\" on /v1/predict and /metrics, TOKEN read from `FILE`", func(s *serveOptions) *string { return &s.TokenFile })
	o.boolean("plain-control-tokens", "read chat control tokens written in texts (<|im_end|>) as plain text (=false: as control tokens)", func(s *serveOptions) *bool { return &s.PlainControlTokens })
	o.duration("max-wait", "how long a micro-batch waits for more requests", func(s *serveOptions) *time.Duration { return &s.Server.MaxWait })
	o.str("max-body", "largest request body (bytes, or with KiB/MiB)", func(s *serveOptions) *string { return &s.MaxBody })
	o.integer("max-texts", "most texts in one request", func(s *serveOptions) *int { return &s.Server.MaxTexts })
	o.duration("timeout", "per request, queueing included", func(s *serveOptions) *time.Duration { return &s.Server.Timeout })
	o.duration("drain", "how long shutdown waits for requests in flight", func(s *serveOptions) *time.Duration { return &s.Server.Drain })
	return o
}

func serveCommand() *cli.Command {
	o := serveOptionTable()
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
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			opt, err := o.load(c)
			if err != nil {
				return err
			}
			cfg, scfg, err := serveConfig(opt)
			if err != nil {
				return err
			}
			return runServe(c, opt.Addr, cfg, scfg)
		},
	}
}

// serveConfig checks serve's options and returns the scorer's and the server's configs; the
// server replaces zero values by its defaults, so zero is refused rather than silently replaced.
func serveConfig(opt serveOptions) (predict.ScorerConfig, predict.ServerConfig, error) {
	cfg, scfg := opt.Scorer, opt.Server
	if cfg.ModelDir == "" {
		return cfg, scfg, usageError("serve: --model DIR is required")
	}
	f := &flagCheck{cmd: "serve"}
	f.atLeast(1, "max-batch", scfg.MaxBatch)
	f.atLeast(1, "max-texts", scfg.MaxTexts)
	f.atLeast(1, "max-batch-tokens", scfg.MaxBatchTokens)
	f.atLeast(1, "max-request-tokens", scfg.MaxRequestTokens)
	f.atLeast(1, "max-queue-tokens", scfg.MaxQueueTokens)
	f.positive("max-wait", scfg.MaxWait)
	f.positive("timeout", scfg.Timeout)
	f.positive("drain", scfg.Drain)
	f.checkScorer(cfg, 0)
	if f.err != nil {
		return cfg, scfg, f.err
	}
	var err error
	if scfg.MaxBody, err = parseBytes(opt.MaxBody); err != nil {
		return cfg, scfg, usageError("serve: --max-body: %v", err)
	}
	if scfg.MaxQueueTokens < scfg.MaxRequestTokens {
		return cfg, scfg, usageError("serve: --max-queue-tokens %d is below --max-request-tokens %d: a largest request could never be queued",
			scfg.MaxQueueTokens, scfg.MaxRequestTokens)
	}
	if opt.TokenFile != "" {
		if scfg.Token, err = readToken(opt.TokenFile); err != nil {
			return cfg, scfg, usageError("serve: --token-file: %v", err)
		}
	}
	scfg.ControlTokens = !opt.PlainControlTokens
	if cfg.BatchSize == 0 { // one forward pass per micro-batch
		cfg.BatchSize = scfg.MaxBatch
	}
	return cfg, scfg, nil
}

func runServe(c *cli.Context, addr string, cfg predict.ScorerConfig, scfg predict.ServerConfig) error {
	if host, _, err := net.SplitHostPort(addr); err == nil && !isLoopback(host) && scfg.Token == "" {
		fmt.Fprintf(c.App.ErrWriter, "serve: listening on %s, beyond this machine: the service has no authentication (--token-file)\n", addr)
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
	err = srv.ListenAndServe(ctx, addr, func(a net.Addr) {
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
