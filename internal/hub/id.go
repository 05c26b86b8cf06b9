// Package hub finds models named ORG/NAME[@REVISION] in the caches that huggingface_hub and
// modelscope write, refuses model folders sentitune cannot read safely, and downloads models
// into those same caches.
package hub

import (
	"fmt"
	"regexp"
	"strings"
)

// ModelID names a model on a hub: ORG/NAME, at Revision ("" = the hub's default branch).
type ModelID struct {
	Org, Name string
	Revision  string
}

// repoPart is what both hubs allow in an organisation or model name.
var repoPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ParseModelID reads ORG/NAME or ORG/NAME@REVISION.
func ParseModelID(s string) (ModelID, error) {
	repo, rev, hasRev := strings.Cut(s, "@")
	org, name, ok := strings.Cut(repo, "/")
	switch {
	case !ok || strings.Contains(name, "/"):
		return ModelID{}, fmt.Errorf("%q is not ORG/NAME[@REVISION]", s)
	case !repoPart.MatchString(org) || !repoPart.MatchString(name) || strings.Contains(repo, ".."):
		return ModelID{}, fmt.Errorf("%q is not ORG/NAME[@REVISION]: names hold letters, digits, '.', '_' and '-'", s)
	case hasRev && (rev == "" || strings.Contains(rev, "..") || strings.HasPrefix(rev, "/")):
		return ModelID{}, fmt.Errorf("%q: bad revision %q", s, rev)
	}
	return ModelID{Org: org, Name: name, Revision: rev}, nil
}

// Repo is ORG/NAME.
func (id ModelID) Repo() string { return id.Org + "/" + id.Name }

// String is ORG/NAME, with @REVISION when one was given.
func (id ModelID) String() string {
	if id.Revision == "" {
		return id.Repo()
	}
	return id.Repo() + "@" + id.Revision
}

// revisionOr is the revision asked for, else the hub's default branch.
func (id ModelID) revisionOr(def string) string {
	if id.Revision == "" {
		return def
	}
	return id.Revision
}
