package studio

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/finetune"
)

// TestModelPlan: the Model page's memory plan is finetune's (--dry-run's) for the Train form's
// options on the chosen device, as loaded and with the base in 8 and 4 bits.
func TestModelPlan(t *testing.T) {
	snap := hubCacheWith(t)
	s := newTestServer(t, Config{})
	post := func(body string) (int, string) {
		w := do(s, "POST", "/api/model/plan", "localhost", strings.NewReader(body), map[string]string{csrfHeader: s.csrf, "Content-Type": "application/json"})
		return w.Code, w.Body.String()
	}
	code, body := post(`{"model":"Qwen/Small","options":{"device":"cuda","batch-size":"4","max-len":"256","lora-r":"16","gradient-checkpointing":"on"}}`)
	var got struct {
		Plans map[string]finetune.MemoryPlan `json:"plans"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	cfg := finetune.Defaults()
	cfg.Model, cfg.Device, cfg.BatchSize, cfg.MaxLen, cfg.LoRAR, cfg.GradientCheckpointing = snap, "cuda", 4, 256, 16, "on"
	for name, bits := range map[string]int{"none": 0, "8bit": 8, "4bit": 4} {
		cfg.QuantizationBit = bits
		want, err := finetune.PlanMemory(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want.Model = "Qwen/Small"
		if !reflect.DeepEqual(got.Plans[name], want) {
			t.Errorf("%s plan\n got %+v\nwant %+v", name, got.Plans[name], want)
		}
	}
	none, q8, q4 := got.Plans["none"], got.Plans["8bit"], got.Plans["4bit"]
	if !(q4.WeightsProjections < q8.WeightsProjections && q8.WeightsProjections < none.WeightsProjections) || !none.Checkpointing ||
		none.Device != "cuda" || none.ActivationsCheckpointed >= none.ActivationsPlain || none.Activations != none.ActivationsCheckpointed {
		t.Errorf("plans %+v", got.Plans)
	}
	if code, body := post(`{"model":"Qwen/Small","options":{"quantization-bit":"3"}}`); code != 400 {
		t.Errorf("quantization-bit 3: %d %s", code, body)
	}
	if code, body := post(`{"model":"Qwen/Absent","options":{}}`); code != 404 {
		t.Errorf("a model no cache holds: %d %s", code, body)
	}
}
