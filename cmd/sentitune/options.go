package main

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// Every command turns its command line into its config the same way, through a table of options
// each binding one flag to one field: the config's defaults are the flags' defaults (shown in
// --help), a --config YAML file whose keys are the flag names is read over them, and the flags
// given on the command line override both. A flag several commands share is one function
// (scorerOptions, inputOptions) that each command's table calls.

// option binds one flag to one field of a command's config C.
type option[C any] struct {
	flag     cli.Flag
	fromFlag func(c *cli.Context, cfg *C)     // the field from the flag given on the command line
	fromYAML func(n *yaml.Node, cfg *C) error // the field from the YAML key of the flag's name
}

// options is a command's option table over its defaults def.
type options[C any] struct {
	def  C
	list []option[C]
	// readYAML, when set, reads --config instead of the flag-name keys (run's sectioned file,
	// finetune's library loader); it returns the config read over base.
	readYAML func(path string, base C) (C, error)
}

// newOptions starts the option table of a config whose defaults are def.
func newOptions[C any](def C) *options[C] { return &options[C]{def: def} }

// bind adds one flag bound to field; get reads the flag's value from the command line.
func bind[C, T any](o *options[C], f cli.Flag, field func(*C) *T, get func(*cli.Context, string) T) {
	name := f.Names()[0]
	o.list = append(o.list, option[C]{
		flag:     f,
		fromFlag: func(c *cli.Context, cfg *C) { *field(cfg) = get(c, name) },
		fromYAML: func(n *yaml.Node, cfg *C) error { return n.Decode(field(cfg)) },
	})
}

// custom adds a flag whose value is converted on the way in (a comma list, a size);
// a YAML key of its name is decoded into the field as it is.
func custom[C, T any](o *options[C], f cli.Flag, field func(*C) *T, fromFlag func(c *cli.Context, cfg *C)) {
	o.list = append(o.list, option[C]{
		flag:     f,
		fromFlag: fromFlag,
		fromYAML: func(n *yaml.Node, cfg *C) error { return n.Decode(field(cfg)) },
	})
}

func (o *options[C]) str(name, usage string, field func(*C) *string, aliases ...string) {
	bind(o, &cli.StringFlag{Name: name, Aliases: aliases, Usage: usage, Value: *field(&o.def)}, field, (*cli.Context).String)
}

func (o *options[C]) integer(name, usage string, field func(*C) *int, aliases ...string) {
	bind(o, &cli.IntFlag{Name: name, Aliases: aliases, Usage: usage, Value: *field(&o.def)}, field, (*cli.Context).Int)
}

func (o *options[C]) int64(name, usage string, field func(*C) *int64) {
	bind(o, &cli.Int64Flag{Name: name, Usage: usage, Value: *field(&o.def)}, field, (*cli.Context).Int64)
}

func (o *options[C]) uint64(name, usage string, field func(*C) *uint64) {
	bind(o, &cli.Uint64Flag{Name: name, Usage: usage, Value: *field(&o.def)}, field, (*cli.Context).Uint64)
}

func (o *options[C]) real(name, usage string, field func(*C) *float64) {
	bind(o, &cli.Float64Flag{Name: name, Usage: usage, Value: *field(&o.def)}, field, (*cli.Context).Float64)
}

func (o *options[C]) boolean(name, usage string, field func(*C) *bool) {
	bind(o, &cli.BoolFlag{Name: name, Usage: usage, Value: *field(&o.def)}, field, (*cli.Context).Bool)
}

func (o *options[C]) duration(name, usage string, field func(*C) *time.Duration) {
	bind(o, &cli.DurationFlag{Name: name, Usage: usage, Value: *field(&o.def)}, field, (*cli.Context).Duration)
}

// texts adds a repeatable flag whose every value is one whole text (never split at commas).
func (o *options[C]) texts(name, usage string, field func(*C) *[]string, aliases ...string) {
	bind(o, textListFlag(name, aliases, usage), field, textValues)
}

// hidden hides the last option added from --help (bench-only flags).
func (o *options[C]) hidden() {
	switch f := o.list[len(o.list)-1].flag.(type) {
	case *cli.IntFlag:
		f.Hidden = true
	case *cli.StringFlag:
		f.Hidden = true
	case *cli.BoolFlag:
		f.Hidden = true
	}
}

// configFlag is every command's --config.
const configFlag = "config"

// flags is the command's flag list: --config, then the table's flags in order.
func (o *options[C]) flags() []cli.Flag {
	fs := []cli.Flag{&cli.StringFlag{Name: configFlag, Usage: "YAML `FILE` of options (keys are the flag names; flags given override it)"}}
	for _, op := range o.list {
		fs = append(fs, op.flag)
	}
	return fs
}

// load is the command's config: the defaults, then --config, then the flags given.
func (o *options[C]) load(c *cli.Context) (C, error) { return o.loadOver(c, o.def) }

// loadOver is load over other defaults (run's demo or real-model defaults). A --config file that
// cannot be read or holds an unknown key is a usage error.
func (o *options[C]) loadOver(c *cli.Context, cfg C) (C, error) {
	if path := c.String(configFlag); path != "" {
		var err error
		if o.readYAML != nil {
			cfg, err = o.readYAML(path, cfg)
		} else {
			err = o.decodeYAML(path, &cfg)
		}
		if err != nil {
			return cfg, usageError("%s: %w", c.Command.Name, err)
		}
	}
	for _, op := range o.list {
		if c.IsSet(op.flag.Names()[0]) {
			op.fromFlag(c, &cfg)
		}
	}
	return cfg, nil
}

// decodeYAML sets the fields whose flag names are keys of the YAML mapping in path.
func (o *options[C]) decodeYAML(path string, cfg *C) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if len(bytes.TrimSpace(b)) == 0 {
			return nil // an empty file sets nothing
		}
		return fmt.Errorf("read config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("read config %s line %d: want a mapping of flag names to values", path, m.Line)
	}
	byName := map[string]option[C]{}
	for _, op := range o.list {
		byName[op.flag.Names()[0]] = op
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, val := m.Content[i], m.Content[i+1]
		op, ok := byName[key.Value]
		if !ok {
			return fmt.Errorf("read config %s line %d: unknown key %q (the keys are the command's flag names)", path, key.Line, key.Value)
		}
		if err := op.fromYAML(val, cfg); err != nil {
			return fmt.Errorf("read config %s line %d: %s: %w", path, val.Line, key.Value, err)
		}
	}
	return nil
}
