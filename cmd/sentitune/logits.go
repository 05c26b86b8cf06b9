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

func logitsCommand() *cli.Command {
	return &cli.Command{
		Name:  "logits",
		Usage: "print a model's next-token logits for given token ids (conformance diagnostic)",
		Description: "Prints JSON {\"ids\": [...], \"logits\": [[...], ...]} with f32 logits of the last position\n" +
			"(every position with --all-positions), to compare against transformers or another implementation.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Required: true, Usage: "Hugging Face model folder"},
			&cli.StringFlag{Name: "adapter", Usage: "LoRA adapter folder (PEFT or sentitune) to apply"},
			&cli.StringFlag{Name: "ids", Required: true, Usage: "comma-separated token ids, e.g. 9707,11,1879"},
			&cli.BoolFlag{Name: "all-positions", Usage: "print the logits of every position, not just the last"},
			&cli.StringFlag{Name: "device", Value: "auto", Usage: "auto, cpu, cuda or cuda:N"},
			&cli.StringFlag{Name: "dtype", Value: "auto", Usage: "auto (f32 on CPU, bf16 on CUDA), f32, bf16 or f16"},
		},
		Action: func(c *cli.Context) error {
			ids, err := parseIDs(c.String("ids"))
			if err != nil {
				return err
			}
			return runLogits(logitsConfig{
				Model:        c.String("model"),
				Adapter:      c.String("adapter"),
				IDs:          ids,
				AllPositions: c.Bool("all-positions"),
				Device:       c.String("device"),
				DType:        c.String("dtype"),
			}, c.App.Writer)
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
	m, err := llm.LoadModel(cfg.Model, llm.LoadOptions{Device: dev, DType: dtype, ExplicitDType: explicit})
	if err != nil {
		return err
	}
	defer m.Close()
	if cfg.Adapter != "" {
		if _, err := m.LoadAdapter(cfg.Adapter); err != nil {
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
