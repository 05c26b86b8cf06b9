package main

import "github.com/urfave/cli/v2"

func mergeCommand() *cli.Command {
	return &cli.Command{
		Name:   "merge",
		Usage:  "merge a LoRA adapter into its base model and write a full model folder",
		Action: notImplemented("merge"),
	}
}
