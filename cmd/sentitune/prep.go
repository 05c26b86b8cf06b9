package main

import "github.com/urfave/cli/v2"

func prepCommand() *cli.Command {
	return &cli.Command{
		Name:   "prep",
		Usage:  "prepare labelled reviews as instruction data with a held-out split",
		Action: notImplemented("prep"),
	}
}
