package main

import (
	"context"
	"fmt"
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
			"GET /healthz → {\"status\": \"ok\", \"model\": {...}, \"stats\": {...}}\n" +
			"Concurrent requests are coalesced into micro-batches of up to --max-batch texts, waiting at most\n" +
			"--max-wait for more. Bodies over --max-body or with more than --max-texts texts get 413, malformed\n" +
			"JSON 400, requests not answered within --timeout 503. SIGTERM or SIGINT stops accepting connections\n" +
			"and lets requests in flight finish (up to --drain) before exiting.",
		Flags: append(scorerFlags(0),
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen `HOST:PORT` (port 0 picks a free one)"},
			&cli.IntFlag{Name: "max-batch", Value: 32, Usage: "texts per micro-batch"},
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
	}
	if scfg.MaxBatch < 1 || scfg.MaxTexts < 1 {
		return usageError("serve: --max-batch and --max-texts must be positive")
	}
	if cfg.BatchSize == 0 { // one forward pass per micro-batch
		cfg.BatchSize = scfg.MaxBatch
	}
	if host, _, err := net.SplitHostPort(c.String("addr")); err == nil && !isLoopback(host) {
		fmt.Fprintf(os.Stderr, "serve: listening on %s, beyond this machine: the service has no authentication\n", c.String("addr"))
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
	return err
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
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size (e.g. 1MiB, 512KiB, 65536)", s)
	}
	return int64(n * float64(mult)), nil
}
