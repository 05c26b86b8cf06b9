package studio

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInspectKClasses: the Data page's class balance and preview under --labels and the star
// presets are prep's classes, K of them, with the K-class instruction; prep gets the same flags.
func TestInspectKClasses(t *testing.T) {
	s := newTestServer(t, Config{})
	three, err := os.ReadFile("../../data/reviews3.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(s.ws.Root(), dirUploads), 0o755)
	os.WriteFile(filepath.Join(s.ws.Root(), dirUploads, "three.jsonl"), three, 0o644)
	stars := "text,stars\nawful,1\nbad,2\nok,3\ngood,4\ngreat,5\nsuper,5\n"
	os.WriteFile(filepath.Join(s.ws.Root(), dirUploads, "stars.csv"), []byte(stars), 0o644)
	inspect := func(file, labels, labelMap string) inspection {
		t.Helper()
		w := do(s, "GET", "/api/inspect?path=uploads/"+file+"&labels="+url.QueryEscape(labels)+"&label_map="+url.QueryEscape(labelMap), "localhost", nil, nil)
		var ins inspection
		if err := json.Unmarshal(w.Body.Bytes(), &ins); err != nil || w.Code != 200 {
			t.Fatalf("inspect %s %q %q: %d %s", file, labels, labelMap, w.Code, w.Body)
		}
		return ins
	}
	ins := inspect("three.jsonl", "negative=0,neutral=1,positive=2", "")
	if strings.Join(ins.Classes, ",") != "negative,neutral,positive" || ins.Mapped["negative"] != 60 || ins.Mapped["neutral"] != 60 || ins.Mapped["positive"] != 60 {
		t.Errorf("3 classes: %v %v", ins.Classes, ins.Mapped)
	}
	if !strings.Contains(ins.Prompt, "2") || ins.Preview[0]["output"] == "" || !strings.Contains("012", ins.Preview[0]["output"].(string)) {
		t.Errorf("3-class prompt %q, preview %v", ins.Prompt, ins.Preview[0])
	}
	ins = inspect("stars.csv", "", "stars5")
	if strings.Join(ins.Classes, ",") != "1,2,3,4,5" || ins.Mapped["5"] != 2 || ins.Mapped["3"] != 1 {
		t.Errorf("stars5: %v %v", ins.Classes, ins.Mapped)
	}
	ins = inspect("stars.csv", "", "stars3")
	if strings.Join(ins.Classes, ",") != "negative,neutral,positive" || ins.Mapped["negative"] != 2 || ins.Mapped["positive"] != 3 {
		t.Errorf("stars3: %v %v", ins.Classes, ins.Mapped)
	}
	ins = inspect("stars.csv", "", "stars")
	if strings.Join(ins.Classes, ",") != "0,1" || ins.Mapped["0"] != 2 || ins.Mapped["skip"] != 1 {
		t.Errorf("binary stars: %v %v", ins.Classes, ins.Mapped)
	}
	if w := do(s, "GET", "/api/inspect?path=uploads/stars.csv&labels=a=0,b=1&label_map=stars3", "localhost", nil, nil); w.Code != 400 {
		t.Errorf("--labels with stars3: %d %s", w.Code, w.Body)
	}
	args := commandLine(prepArgs(prepRequest{Path: "uploads/three.jsonl", Name: "three", Labels: "negative=0,neutral=1,positive=2", TestRatio: 0.2}))
	if !strings.Contains(args, "--labels 'negative=0,neutral=1,positive=2'") {
		t.Errorf("prep command %s", args)
	}
}
