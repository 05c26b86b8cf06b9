package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/launch"
)

// launchFinetune runs `sentitune finetune` with the same arguments as nproc
// local workers (launch.Local) and fails naming the first rank that failed.
func launchFinetune(c *cli.Context, nproc int) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finetune --nproc: %w", err)
	}
	if err := launch.Local(nproc, exe, os.Args[1:], c.App.Writer, c.App.ErrWriter); err != nil {
		return fmt.Errorf("finetune --nproc %d: %w", nproc, err)
	}
	return nil
}
