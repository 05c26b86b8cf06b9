package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/hub"
)

func downloadCommand() *cli.Command {
	return &cli.Command{
		Name:      "download",
		Usage:     "fetch a model from the Hugging Face Hub or ModelScope into the cache their own tools use; prints its folder",
		ArgsUsage: "ORG/NAME[@REVISION]",
		Description: "Downloads the safetensors weights, config and tokenizer files (or --include's) into the cache\n" +
			"huggingface_hub writes (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub) or modelscope writes\n" +
			"(MODELSCOPE_CACHE, ~/.cache/modelscope/hub), where --model ORG/NAME then finds them. An interrupted\n" +
			"download resumes; every file's size and checksum are checked before it is put in place.\n" +
			"Tokens for gated or private models: HF_TOKEN, MODELSCOPE_API_TOKEN. Endpoints: HF_ENDPOINT,\n" +
			"MODELSCOPE_ENDPOINT (or MODELSCOPE_DOMAIN), or --endpoint.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "revision", Usage: "branch, tag or commit `REV` (default: main on the Hugging Face Hub, master on ModelScope)"},
			&cli.StringFlag{Name: "hub", Value: hub.HuggingFace, Usage: "hf|modelscope"},
			&cli.StringSliceFlag{Name: "include", Usage: "download the files whose path matches `GLOB` instead (repeatable; e.g. '*' for all)"},
			&cli.StringFlag{Name: "endpoint", Usage: "the hub's base `URL` (a mirror)"},
		},
		Action: runDownload,
	}
}

// downloadFlags are download's options, from before or after the model name.
type downloadFlags struct {
	revision, hub, endpoint string
	include                 []string
}

// readDownloadFlags reads the flags urfave/cli parsed (those before the model name), then the ones
// after it, which urfave/cli leaves as arguments: `sentitune download ORG/NAME --hub modelscope`.
func readDownloadFlags(c *cli.Context) (string, downloadFlags, error) {
	f := downloadFlags{revision: c.String("revision"), hub: c.String("hub"), endpoint: c.String("endpoint"), include: c.StringSlice("include")}
	if c.NArg() == 0 {
		return "", f, errors.New("download: give one model, ORG/NAME[@REVISION] (see sentitune download --help)")
	}
	fs := flag.NewFlagSet("download", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.revision, "revision", f.revision, "")
	fs.StringVar(&f.hub, "hub", f.hub, "")
	fs.StringVar(&f.endpoint, "endpoint", f.endpoint, "")
	fs.Func("include", "", func(s string) error { f.include = append(f.include, s); return nil })
	if err := fs.Parse(c.Args().Tail()); err != nil {
		return "", f, fmt.Errorf("download: %w (see sentitune download --help)", err)
	}
	if fs.NArg() > 0 {
		return "", f, fmt.Errorf("download: one model at a time; also got %v", fs.Args())
	}
	return c.Args().First(), f, nil
}

func runDownload(c *cli.Context) error {
	ref, opt, err := readDownloadFlags(c)
	if err != nil {
		return usageError("%w", err)
	}
	id, err := hub.ParseModelID(ref)
	if err != nil {
		return usageError("download: %w", err)
	}
	if rev := opt.revision; rev != "" {
		if id.Revision != "" && id.Revision != rev {
			return usageError("download: %s names revision %s, --revision %s", ref, id.Revision, rev)
		}
		id.Revision = rev
		if _, err := hub.ParseModelID(id.String()); err != nil {
			return usageError("download: --revision: %w", err)
		}
	}
	h := opt.hub
	if h != hub.HuggingFace && h != hub.ModelScope {
		return usageError("download: --hub %q: want %s or %s", h, hub.HuggingFace, hub.ModelScope)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := hub.Download(ctx, id.String(), hub.DownloadOptions{
		Hub: h, Endpoint: opt.endpoint, Include: opt.include, Progress: c.App.ErrWriter,
	})
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("download %s: interrupted; run the same command again to resume", id)
	}
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	_, err = fmt.Fprintln(c.App.Writer, dir)
	return err
}
