package main

import "github.com/urfave/cli/v2"

func logitsCommand() *cli.Command {
	return &cli.Command{
		Name:   "logits",
		Usage:  "print a model's next-token logits for given token ids (conformance diagnostic)",
		Action: notImplemented("logits"),
	}
}
