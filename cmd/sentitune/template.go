package main

import (
	"strings"

	"github.com/sentitune/sentitune/internal/chattemplate"
)

// templateUsage documents --template, shared by finetune, predict, eval, serve and run.
var templateUsage = "chat template `NAME|FILE`: " + strings.Join(chattemplate.Names(), ", ") +
	" (raw: instruction and review with no template, for base models), or a Jinja file" +
	" (default: the model's own; predict, eval and serve: the one the adapter was trained with)"
