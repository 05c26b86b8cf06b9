package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/selftest"
	"github.com/sentitune/sentitune/internal/torch"
)

// selftestOptions is selftest's command line.
type selftestOptions struct {
	Device string
	JSON   bool
}

func selftestCommand() *cli.Command {
	o := newOptions(selftestOptions{Device: "auto"})
	o.str("device", "auto, cpu, cuda or cuda:N", func(s *selftestOptions) *string { return &s.Device })
	o.boolean("json", "print the report as JSON", func(s *selftestOptions) *bool { return &s.JSON })
	return &cli.Command{
		Name:  "selftest",
		Usage: "check the engine on a device: optimizer, clipping, fused loss and model against float64 references",
		Description: "Runs AdamW, gradient clipping, the fused lm_head loss and the model's partial last layer on the\n" +
			"device and compares them with independent float64 computations in Go. Run it on a new GPU box or\n" +
			"after rebuilding the shim against another libtorch; exits 1 if a check fails.",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			opt, err := o.load(c)
			if err != nil {
				return err
			}
			dev, err := torch.ParseDevice(opt.Device)
			if err != nil {
				return usageError("selftest: %w", err)
			}
			r, err := selftest.Run(dev)
			if err != nil {
				return fmt.Errorf("selftest: %w", err)
			}
			w := c.App.Writer
			if opt.JSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(w, "libtorch %s on %s\n", r.Libtorch, r.Device)
				for _, ch := range r.Checks {
					mark := "ok  "
					if !ch.Pass {
						mark = "FAIL"
					}
					errText := ""
					if ch.Limit > 0 {
						errText = fmt.Sprintf(" (max rel. error %.1e, limit %.0e)", ch.MaxErr, ch.Limit)
					}
					fmt.Fprintf(w, "%s %s%s: %s\n", mark, ch.Name, errText, ch.Detail)
				}
			}
			if !r.Passed() {
				return errors.New("selftest: a check failed")
			}
			return nil
		},
	}
}
