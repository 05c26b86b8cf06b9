package main

import "github.com/urfave/cli/v2"

func initModelCommand() *cli.Command {
	return &cli.Command{
		Name:   "init-model",
		Usage:  "write a random-weight Qwen2-architecture model folder (for tests and the demo)",
		Action: notImplemented("init-model"),
	}
}
