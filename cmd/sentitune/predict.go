package main

import "github.com/urfave/cli/v2"

func predictCommand() *cli.Command {
	return &cli.Command{
		Name:   "predict",
		Usage:  "score reviews with one forward pass per batch",
		Action: notImplemented("predict"),
	}
}
