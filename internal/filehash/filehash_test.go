package filehash

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	// FIPS 180-2's example: SHA-256("abc").
	if h, err := SHA256(p); err != nil || h != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("SHA256(abc) = %q, %v", h, err)
	}
	missing := filepath.Join(t.TempDir(), "none")
	if _, err := SHA256(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: error %v, want one naming %s", err, missing)
	}
}
