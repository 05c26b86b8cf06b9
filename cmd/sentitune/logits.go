package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// logitsConfig is what the logits diagnostic needs.
type logitsConfig struct {
	Model        string
	Adapter      string
	IDs          []int
	AllPositions bool
	Device       string
	DType        string
}

// logitsOptions is logits' command line: --ids as given, parsed into IDs.
type logitsOptions struct {
	logitsConfig
	IDList string
}

func logitsOptionTable() *options[logitsOptions] {
	o := newOptions(logitsOptions{logitsConfig: logitsConfig{Device: "auto", DType: "auto"}})
	o.str("model", "Hugging Face model folder `DIR`, or ORG/NAME[@REV] from a hub cache", func(l *logitsOptions) *string { return &l.Model })
	o.str("adapter", "LoRA adapter folder (PEFT or sentitune) to apply", func(l *logitsOptions) *string { return &l.Adapter })
	o.str("ids", "comma-separated token ids, e.g. 9707,11,1879", func(l *logitsOptions) *string { return &l.IDList })
	o.boolean("all-positions", "print the logits of every position, not just the last", func(l *logitsOptions) *bool { return &l.AllPositions })
	o.str("device", "auto, cpu, cuda or cuda:N", func(l *logitsOptions) *string { return &l.Device })
	o.str("dtype", "auto (f32 on CPU, bf16 on CUDA), f32, bf16 or f16", func(l *logitsOptions) *string { return &l.DType })
	return o
}

func logitsCommand() *cli.Command {
	o := logitsOptionTable()
	return &cli.Command{
		Name:  "logits",
		Usage: "print a model's next-token logits for given token ids (conformance diagnostic)",
		Description: "Prints JSON {\"ids\": [...], \"logits\": [[...], ...]} with f32 logits of the last position\n" +
			"(every position with --all-positions), to compare against transformers or another implementation.",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			opt, err := o.load(c)
			if err != nil {
				return err
			}
			if opt.Model == "" {
				return usageError("logits: --model DIR is required")
			}
			if opt.IDs, err = parseIDs(opt.IDList); err != nil {
				return usageError("logits: %w", err)
			}
			if _, _, err := llm.ParseComputeDType(opt.DType); err != nil {
				return usageError("logits: --dtype: %w", err)
			}
			return runLogits(opt.logitsConfig, c.App.Writer)
		},
	}
}

func parseIDs(s string) ([]int, error) {
	var ids []int
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := strconv.Atoi(f)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("--ids: item %d (%q) is not a token id", i+1, f)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errors.New("--ids: no token ids given")
	}
	return ids, nil
}

func runLogits(cfg logitsConfig, out io.Writer) error {
	dev, err := torch.ParseDevice(cfg.Device)
	if err != nil {
		return err
	}
	dtype, explicit, err := llm.ParseComputeDType(cfg.DType)
	if err != nil {
		return err
	}
	dir, err := hub.ResolveModel(cfg.Model) // ORG/NAME: its folder in a hub cache
	if err != nil {
		return err
	}
	m, err := llm.LoadModel(dir, llm.LoadOptions{Device: dev, DType: dtype, ExplicitDType: explicit})
	if err != nil {
		return err
	}
	defer m.Close()
	if cfg.Adapter != "" {
		if _, err := finetune.LoadAdapter(m, cfg.Adapter); err != nil {
			return err
		}
	}
	var rows [][]float32
	err = torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		h, err := m.HiddenAt(s, llm.Batch{IDs: [][]int{cfg.IDs}}, nil, nil, false) // every position, [T, H]
		if err != nil {
			return err
		}
		pos := []int{len(cfg.IDs) - 1}
		if cfg.AllPositions {
			pos = make([]int, len(cfg.IDs))
			for i := range pos {
				pos[i] = i
			}
		} else {
			h = s.Narrow(h, 0, int64(pos[0]), 1)
		}
		logits, err := m.Logits(s, h)
		if err != nil {
			return err
		}
		v, err := logits.Float32s()
		if err != nil {
			return err
		}
		V := len(v) / len(pos)
		for i := range pos {
			rows = append(rows, v[i*V:(i+1)*V])
		}
		return nil
	})
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 1<<20)
	if err := json.NewEncoder(w).Encode(struct {
		IDs    []int       `json:"ids"`
		Logits [][]float32 `json:"logits"`
	}{cfg.IDs, rows}); err != nil {
		return fmt.Errorf("write logits: %w", err)
	}
	return w.Flush()
}
