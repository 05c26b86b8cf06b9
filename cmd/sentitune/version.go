package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/torch"
)

// init makes --version print what a bug report needs, not only the version string.
func init() { cli.VersionPrinter = printVersion }

// moduleVersion is the main module's version as the go command stamped it (a tag, or a
// pseudo-version from the commit; "(devel)" without version control).
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// vcsInfo is the commit the binary was built from, its time, and whether the tree had changes.
func vcsInfo() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	s := map[string]string{}
	for _, kv := range bi.Settings {
		s[kv.Key] = kv.Value
	}
	if s["vcs.revision"] == "" {
		return "unknown (not built by go build in a git checkout)"
	}
	out := s["vcs.revision"]
	if t := s["vcs.time"]; t != "" {
		out += " (" + t + ")"
	}
	if s["vcs.modified"] == "true" {
		out += ", with uncommitted changes"
	}
	return out
}

// libtorchInfo is the engine this binary finds, as every command would find it.
func libtorchInfo() string {
	if err := torch.Load(); err != nil {
		return "not found: " + err.Error()
	}
	v, err := torch.Version()
	if err != nil {
		return torch.LibPath() + " (version unknown: " + err.Error() + ")"
	}
	return v + " via " + torch.LibPath()
}

func printVersion(c *cli.Context) {
	fmt.Fprintf(c.App.Writer, "sentitune %s\ncommit    %s\ngo        %s %s/%s\nlibtorch  %s\n",
		c.App.Version, vcsInfo(), runtime.Version(), runtime.GOOS, runtime.GOARCH, libtorchInfo())
}
