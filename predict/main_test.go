package predict

import (
	"encoding/json"
	"os"
	"testing"
)

var tempRoot string

func osMkdirTemp() (string, error) { return os.MkdirTemp(tempRoot, "model-") }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "predict-test-")
	if err != nil {
		panic(err)
	}
	tempRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
