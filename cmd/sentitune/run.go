package main

import "github.com/urfave/cli/v2"

func runCommand() *cli.Command {
	return &cli.Command{
		Name:   "run",
		Usage:  "the whole pipeline in one command (no arguments: the built-in demo)",
		Action: notImplemented("run"),
	}
}
