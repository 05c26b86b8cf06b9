package chattemplate

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFromConfig(t *testing.T) {
	tests := []struct{ raw, want, err string }{
		{``, "", ""},
		{`null`, "", ""},
		{`"{{ x }}"`, "{{ x }}", ""},
		{`[{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]`, "D", ""},
		{`[{"name": "rag", "template": "R"}]`, "R", ""},
		{`[]`, "", ""},
		{`42`, "", "neither a string nor a list"},
	}
	for _, tt := range tests {
		got, err := FromConfig(json.RawMessage(tt.raw))
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("FromConfig(%s) = %q, %v; want %q, %q", tt.raw, got, err, tt.want, tt.err)
		}
	}
}
