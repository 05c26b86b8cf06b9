package main

import "github.com/urfave/cli/v2"

func tokenizeCommand() *cli.Command {
	return &cli.Command{
		Name:   "tokenize",
		Usage:  "tokenize text with a model's tokenizer (and chat template)",
		Action: notImplemented("tokenize"),
	}
}
