package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/progress"
)

// tokenizeConfig is what tokenize needs.
type tokenizeConfig struct {
	Model    string // model folder with tokenizer.json
	JSONL    string // input file of {"text": ...} lines
	Text     string // or one text
	HasText  bool   // --text was given (it may be given empty, which is an error)
	Out      string // output file; "" = stdout
	Chat     bool   // wrap each text as a user turn with the generation prompt
	System   string // system prompt for --chat; "" = the template's default
	Template string // chat template for --chat: "" = the model's own
}

func tokenizeOptionTable() *options[tokenizeConfig] {
	o := newOptions(tokenizeConfig{})
	o.str("model", "model folder `DIR` (tokenizer.json, tokenizer_config.json), or ORG/NAME[@REV] from a hub cache", func(c *tokenizeConfig) *string { return &c.Model }, "m")
	o.str("jsonl", "input `FILE` of {\"text\": ...} lines", func(c *tokenizeConfig) *string { return &c.JSONL })
	custom(o, &cli.StringFlag{Name: "text", Usage: "tokenize this one `TEXT` instead of a file"}, func(c *tokenizeConfig) *string { return &c.Text },
		func(c *cli.Context, cfg *tokenizeConfig) { cfg.Text, cfg.HasText = c.String("text"), true })
	o.str("out", "output `FILE` (default: stdout)", func(c *tokenizeConfig) *string { return &c.Out }, "o")
	o.boolean("chat", "wrap the text as a user turn of the chat template", func(c *tokenizeConfig) *bool { return &c.Chat })
	o.str("system", "system prompt `TEXT` for --chat (default: the template's)", func(c *tokenizeConfig) *string { return &c.System })
	o.str("template", "for --chat: "+templateUsage, func(c *tokenizeConfig) *string { return &c.Template })
	return o
}

func tokenizeCommand() *cli.Command {
	o := tokenizeOptionTable()
	return &cli.Command{
		Name:      "tokenize",
		Usage:     "tokenize text with a model's tokenizer (and chat template)",
		UsageText: `sentitune tokenize --model DIR (--jsonl IN [--out OUT] | --text "...") [--chat [--system S] [--template T]]`,
		Description: "Reads {\"text\": ...} per line and writes {\"ids\": [...]} per line (stdout by default),\n" +
			"with the model's tokenizer.json exactly as Hugging Face encodes it (no BOS/EOS added).\n" +
			"--chat renders each text as the user turn of the model's Jinja chat template (or --template's),\n" +
			"with its default system prompt unless --system is given, up to the assistant generation prompt.",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			cfg, err := o.load(c)
			if err != nil {
				return err
			}
			cfg.HasText = cfg.HasText || cfg.Text != "" // a --config text: key
			if (cfg.System != "" || cfg.Template != "") && !cfg.Chat {
				return usageError("tokenize: --system and --template need --chat")
			}
			var bar io.Writer
			if progress.IsTerminal(c.App.ErrWriter) {
				bar = c.App.ErrWriter
			}
			return runTokenize(cfg, c.App.Writer, bar)
		},
	}
}

func runTokenize(cfg tokenizeConfig, stdout, progress io.Writer) error {
	switch {
	case cfg.Model == "":
		return usageError("tokenize: --model is required")
	case (cfg.JSONL != "") == cfg.HasText:
		return usageError("tokenize: give exactly one of --jsonl or --text")
	case cfg.HasText && cfg.Text == "":
		return usageError("tokenize: --text: empty text")
	}
	dir, err := hub.ResolveModel(cfg.Model) // ORG/NAME: its folder in a hub cache
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return err
	}
	encode := tok.Encode
	if cfg.Chat {
		if tok, err = tok.WithTemplate(cfg.Template); err != nil {
			return fmt.Errorf("tokenize: --template: %w", err)
		}
		chat := tok.Chat()
		if chat == nil {
			return fmt.Errorf("tokenize: --chat: the model in %s has no chat template (give --template)", cfg.Model)
		}
		encode = func(s string) ([]int, error) { return chat.EncodePrompt(cfg.System, s) }
	}

	write := func(w io.Writer) error {
		if cfg.HasText {
			ids, err := encode(cfg.Text)
			if err != nil {
				return fmt.Errorf("tokenize --text: %w", err)
			}
			_, err = w.Write(append(tokenizer.AppendIDsJSON(nil, ids), '\n'))
			return err
		}
		f, err := os.Open(cfg.JSONL)
		if err != nil {
			return fmt.Errorf("tokenize: %w", err)
		}
		defer f.Close()
		var r io.Reader = f
		if progress != nil {
			if st, err := f.Stat(); err == nil {
				bar := progressbar.NewOptions64(st.Size(), progressbar.OptionSetWriter(progress),
					progressbar.OptionSetDescription("tokenize"), progressbar.OptionShowBytes(true),
					progressbar.OptionThrottle(200_000_000), progressbar.OptionClearOnFinish())
				defer bar.Finish()
				pr := progressbar.NewReader(f, bar)
				r = &pr
			}
		}
		n, err := tokenizer.EncodeJSONL(r, w, encode)
		if err != nil {
			return fmt.Errorf("tokenize %s: %w", cfg.JSONL, err)
		}
		if n == 0 {
			return fmt.Errorf("tokenize %s: no records", cfg.JSONL)
		}
		return nil
	}
	if cfg.Out == "" {
		bw := bufio.NewWriter(stdout)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	return atomicfile.Write(cfg.Out, write)
}
