package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// predictFlagNames lists predict's flags and aliases.
func predictFlagNames() map[string]bool {
	names := map[string]bool{}
	for _, f := range predictCommand().Flags {
		for _, n := range f.Names() {
			names[n] = true
		}
	}
	return names
}

// checkPredictArgs checks that a sentitune command line in deploy/ uses real predict flags.
func checkPredictArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "predict" {
		t.Fatalf("%s: command %q is not sentitune predict", where, args)
	}
	known := predictFlagNames()
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !known[name] {
			t.Errorf("%s: unknown predict flag %q", where, a)
		}
	}
}

func TestDeployKubernetesManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "predict-indexed-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type container struct {
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name string `yaml:"name"`
		} `yaml:"env"`
	}
	type job struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			CompletionMode string `yaml:"completionMode"`
			Completions    int    `yaml:"completions"`
			Template       struct {
				Spec struct {
					Containers []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	var jobs []job
	for {
		var j job
		if err := dec.Decode(&j); err != nil {
			break
		}
		jobs = append(jobs, j)
	}
	if len(jobs) != 2 || jobs[0].Kind != "Job" || jobs[0].Spec.CompletionMode != "Indexed" {
		t.Fatalf("want an Indexed Job and a merge Job, got %+v", jobs)
	}
	c := jobs[0].Spec.Template.Spec.Containers[0]
	checkPredictArgs(t, "indexed job", c.Args)
	if !slices.Contains(c.Args, "--shard=$(JOB_COMPLETION_INDEX)/$(SHARDS)") {
		t.Errorf("indexed job does not pass --shard from JOB_COMPLETION_INDEX: %q", c.Args)
	}
	env := map[string]bool{}
	for _, e := range c.Env {
		env[e.Name] = true
	}
	if !env["JOB_COMPLETION_INDEX"] || !env["SHARDS"] {
		t.Errorf("$(...) in args needs JOB_COMPLETION_INDEX and SHARDS declared in env, have %v", env)
	}
	shards := regexp.MustCompile(`name: SHARDS\s+value: "(\d+)"`).FindStringSubmatch(string(b))
	if shards == nil || shards[1] != strconv.Itoa(jobs[0].Spec.Completions) {
		t.Errorf("SHARDS %v differs from completions %d", shards, jobs[0].Spec.Completions)
	}
	merge := jobs[1].Spec.Template.Spec.Containers[0]
	checkPredictArgs(t, "merge job", merge.Args)
	if !slices.Contains(merge.Args, "--merge-shards") {
		t.Errorf("merge job args %q", merge.Args)
	}
}

func TestDeploySlurmScript(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "predict-array.slurm"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "exec sentitune ")
	if i < 0 {
		t.Fatal("no `exec sentitune` line")
	}
	line := strings.ReplaceAll(s[i+len("exec sentitune "):], "\\\n", " ")
	line, _, _ = strings.Cut(line, "\n")
	var args []string
	for _, f := range strings.Fields(line) {
		args = append(args, strings.Trim(f, `"`))
	}
	checkPredictArgs(t, "slurm script", args)
	if !strings.Contains(line, `--shard "${SLURM_ARRAY_TASK_ID}/${SHARDS}"`) {
		t.Errorf("slurm script does not pass --shard from SLURM_ARRAY_TASK_ID: %s", line)
	}
	if !regexp.MustCompile(`(?m)^#SBATCH --array=0-`).MatchString(s) {
		t.Error("the array must start at 0 (shard indexes count from 0)")
	}
}
