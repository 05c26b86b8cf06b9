package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDeployPyTorchJob checks that the training manifest runs real finetune flags, the same on
// every replica, without --nproc (the operator starts one process per pod).
func TestDeployPyTorchJob(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "finetune-pytorchjob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type replica struct {
		Replicas int `yaml:"replicas"`
		Template struct {
			Spec struct {
				Containers []struct {
					Command []string `yaml:"command"`
					Args    []string `yaml:"args"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	}
	var job struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Replicas map[string]replica `yaml:"pytorchReplicaSpecs"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &job); err != nil {
		t.Fatal(err)
	}
	master, worker := job.Spec.Replicas["Master"], job.Spec.Replicas["Worker"]
	if job.Kind != "PyTorchJob" || master.Replicas != 1 || worker.Replicas < 1 ||
		len(master.Template.Spec.Containers) != 1 || len(worker.Template.Spec.Containers) != 1 {
		t.Fatalf("manifest shape: %+v", job)
	}
	known := map[string]bool{}
	for _, f := range finetuneCommand().Flags {
		for _, n := range f.Names() {
			known[n] = true
		}
	}
	var args [][]string
	for name, r := range job.Spec.Replicas {
		c := r.Template.Spec.Containers[0]
		if !reflect.DeepEqual(c.Command, []string{"sentitune"}) || len(c.Args) == 0 || c.Args[0] != "finetune" {
			t.Fatalf("%s: command %v %v is not sentitune finetune", name, c.Command, c.Args)
		}
		for _, a := range c.Args[1:] {
			if !strings.HasPrefix(a, "-") {
				continue
			}
			flag, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !known[flag] || flag == "nproc" {
				t.Errorf("%s: flag %q (unknown, or --nproc under an operator)", name, a)
			}
		}
		args = append(args, c.Args)
	}
	if !reflect.DeepEqual(args[0], args[1]) {
		t.Errorf("Master and Worker run different arguments:\n%v\n%v", args[0], args[1])
	}
}
