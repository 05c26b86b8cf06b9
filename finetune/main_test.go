package finetune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sentitune/sentitune/data"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// Shared fixtures, built once: a tiny random Qwen2 model and Alpaca files of
// Amazon review sentences.
var fix struct {
	dir   string
	model string // tiny preset model folder
	prep  string // prep folder: train.json (64 rows), val.json (32 rows), test.json (32 rows)
	train string
	val   string
	test  string
}

func TestMain(m *testing.M) {
	code, err := runTests(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "finetune tests:", err)
		code = 1
	}
	os.Exit(code)
}

func runTests(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "finetune-test-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	fix.dir = dir
	fix.model = filepath.Join(dir, "tiny")
	if err := llm.InitRandomModel(fix.model, "tiny", 7, "f32"); err != nil {
		return 1, err
	}
	fix.prep = filepath.Join(dir, "prep")
	if err := os.Mkdir(fix.prep, 0o755); err != nil {
		return 1, err
	}
	recs, err := amazonAlpaca()
	if err != nil {
		return 1, err
	}
	fix.train, fix.test = filepath.Join(fix.prep, prep.FileTrain), filepath.Join(fix.prep, prep.FileTest)
	if err := writeAlpaca(fix.train, recs[:64]); err != nil {
		return 1, err
	}
	if err := writeAlpaca(fix.test, recs[64:96]); err != nil {
		return 1, err
	}
	fix.val = filepath.Join(fix.prep, prep.FileVal)
	if err := writeAlpaca(fix.val, recs[96:128]); err != nil {
		return 1, err
	}
	return m.Run(), nil
}

// amazonAlpaca turns the bundled Amazon sentences into Alpaca records.
func amazonAlpaca() ([]task.Record, error) {
	var recs []task.Record
	sc := bufio.NewScanner(bytes.NewReader(data.AmazonJSONL()))
	for sc.Scan() {
		var r struct {
			Text  string `json:"text"`
			Label int    `json:"label"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		recs = append(recs, task.Record{Instruction: task.DefaultInstruction("en"), Input: r.Text, Output: fmt.Sprint(r.Label)})
	}
	return recs, sc.Err()
}

func writeAlpaca(path string, recs []task.Record) error {
	b, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// testConfig is a short, fast run on the fixtures.
func testConfig(t testing.TB, out string) Config {
	cfg := Defaults()
	cfg.Model, cfg.Data, cfg.Out = fix.model, fix.prep, out
	cfg.LR, cfg.WarmupRatio, cfg.BatchSize, cfg.MaxSteps = 1e-2, 0, 8, 24
	return cfg
}
