package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// names lists dir's entries, hidden ones included.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return n
}

func fillWith(files ...string) func(string) error {
	return func(tmp string) error {
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(tmp, f), []byte("new "+f), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestWriteDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode DirMode
		want []string // dir's entries after writing a.txt and b.txt over an old a.txt and keep.txt
	}{
		{"replace", Replace, []string{"a.txt", "b.txt"}},
		{"merge", Merge, []string{"a.txt", "b.txt", "keep.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "out")
			// A missing folder appears whole, its parents made.
			if err := WriteDir(filepath.Join(root, "new", "out"), tc.mode, fillWith("a.txt")); err != nil {
				t.Fatal(err)
			}
			if got := names(t, filepath.Join(root, "new", "out")); !slices.Equal(got, []string{"a.txt"}) {
				t.Errorf("new folder holds %v", got)
			}
			os.Mkdir(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "a.txt"), []byte("old"), 0o644)
			os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("old"), 0o644)
			// A failing fill leaves dir as it was and no temporary folder behind.
			boom := errors.New("boom")
			if err := WriteDir(dir, tc.mode, func(tmp string) error { fillWith("a.txt")(tmp); return boom }); !errors.Is(err, boom) {
				t.Fatalf("err = %v, want boom", err)
			}
			if got := names(t, root); !slices.Equal(got, []string{"new", "out"}) {
				t.Errorf("after a failed write the parent holds %v", got)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "old" {
				t.Errorf("a failed write changed a.txt to %q", b)
			}
			// Through a symbolic link: the link stays, its target gets the content.
			link := filepath.Join(root, "link")
			if err := os.Symlink(dir, link); err != nil {
				t.Fatal(err)
			}
			if err := WriteDir(link, tc.mode, fillWith("a.txt", "b.txt")); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link was replaced: %v, %v", st, err)
			}
			if got := names(t, dir); !slices.Equal(got, tc.want) {
				t.Errorf("folder holds %v, want %v", got, tc.want)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "new a.txt" {
				t.Errorf("a.txt = %q", b)
			}
			if got := names(t, root); !slices.Equal(got, []string{"link", "new", "out"}) {
				t.Errorf("the parent holds %v: a temporary folder was left", got)
			}
		})
	}
}

func TestCreateCommitAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rows.csv")
	os.WriteFile(path, []byte("old"), 0o644)
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("new"))
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("before Commit the file reads %q", b)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // after Commit: nothing
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("after Commit the file reads %q", b)
	}
	g, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	g.Write([]byte("half"))
	g.Abort()
	if b, _ := os.ReadFile(path); string(b) != "new" || len(names(t, dir)) != 1 {
		t.Errorf("after Abort: %q, folder %v", b, names(t, dir))
	}
	if _, err := Create(dir); err == nil {
		t.Error("Create of a folder: no error")
	}
}
