package main

import "github.com/urfave/cli/v2"

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:   "eval",
		Usage:  "score a test split and write metrics and a report",
		Action: notImplemented("eval"),
	}
}
