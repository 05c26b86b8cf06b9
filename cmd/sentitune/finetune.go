package main

import "github.com/urfave/cli/v2"

func finetuneCommand() *cli.Command {
	return &cli.Command{
		Name:   "finetune",
		Usage:  "LoRA-tune a chat model to answer 1 or 0",
		Action: notImplemented("finetune"),
	}
}
