package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStudioRefusesUnsafeStart: listening beyond loopback without --token, an unknown --lang and a
// non-positive --max-upload are usage errors (exit 2) before anything listens or is created.
func TestStudioRefusesUnsafeStart(t *testing.T) {
	ws := filepath.Join(t.TempDir(), "ws")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, "--token"},
		{[]string{"--addr", ":0"}, "--token"},
		{[]string{"--addr", "127.0.0.1:0", "--lang", "fr"}, "--lang"},
		{[]string{"--addr", "127.0.0.1:0", "--max-upload", "0"}, "--max-upload"},
	} {
		for _, name := range []string{"studio", "webui"} {
			err := newApp().Run(append([]string{"sentitune", name, "--workspace", ws}, tc.args...))
			if code := exitCode(err); code != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %v: exit %d (%v), want 2 naming %s", name, tc.args, code, err, tc.want)
			}
		}
	}
	if _, err := os.Stat(ws); err == nil {
		t.Error("a refused start created the workspace")
	}
}
