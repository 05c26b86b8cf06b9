package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/studio"
)

func studioOptionTable() *options[studio.Config] {
	o := newOptions(studio.Config{Addr: "127.0.0.1:7860", Workspace: "sentitune-workspace", MaxUpload: studio.DefaultMaxUpload})
	o.str("addr", "listen `HOST:PORT` (anything but loopback needs --token)", func(c *studio.Config) *string { return &c.Addr })
	o.str("workspace", "folder `DIR` every file studio reads or writes is in (created)", func(c *studio.Config) *string { return &c.Workspace })
	o.str("lang", "page language zh|en (default: the browser's; the page also takes ?lang=)", func(c *studio.Config) *string { return &c.Lang })
	o.str("token", "access `TOKEN`: needed to open studio from another host (give it once as ?token=)", func(c *studio.Config) *string { return &c.Token })
	o.boolean("demo", "open on the bundled Amazon sample and create the demo model", func(c *studio.Config) *bool { return &c.Demo })
	o.int64("max-upload", "largest uploaded file in `BYTES`", func(c *studio.Config) *int64 { return &c.MaxUpload })
	return o
}

func studioCommand() *cli.Command {
	o := studioOptionTable()
	return &cli.Command{
		Name:      "studio",
		Aliases:   []string{"webui"},
		Usage:     "the whole job in a browser: data, training with live curves, evaluation, predictions",
		UsageText: "sentitune studio [--addr 127.0.0.1:7860] [--workspace DIR] [--lang zh|en] [--demo] [--token TOKEN]",
		Description: "Serves a local web app. Each step runs the ordinary sentitune command (prep, finetune, eval, predict)\n" +
			"as a job, one at a time, inside the workspace; a run started from the command line shows up too.\n" +
			"Only localhost is answered unless --token is given; state-changing requests need the page's CSRF token.",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			cfg, err := o.load(c)
			if err != nil {
				return err
			}
			if err := studio.CheckAddr(cfg.Addr, cfg.Token); err != nil {
				return usageError("studio: %v", err)
			}
			if cfg.Lang != "" && cfg.Lang != "zh" && cfg.Lang != "en" {
				return usageError("studio: --lang %q: want zh or en", cfg.Lang)
			}
			if cfg.MaxUpload <= 0 {
				return usageError("studio: --max-upload must be positive, got %d", cfg.MaxUpload)
			}
			srv, err := studio.New(cfg)
			if err != nil {
				return err
			}
			return srv.ListenAndServe(func(url string) {
				fmt.Fprintf(c.App.Writer, "sentitune studio: %s (workspace %s)\n", url, srv.Workspace())
			})
		},
	}
}
