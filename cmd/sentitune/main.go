// Command sentitune turns labelled reviews into a LoRA-tuned sentiment classifier:
// prep → finetune → eval/predict → reports, in one binary.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/urfave/cli/v2"
)

// exitError carries an exit code through urfave/cli.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

// usageError is a command line a command cannot run with (a flag missing, out of range, or
// contradicting another; a bad --config): every command reports it so, and sentitune exits 2.
func usageError(format string, a ...any) error {
	return exitError{2, fmt.Errorf(format, a...)}
}

func notImplemented(name string) cli.ActionFunc {
	return func(*cli.Context) error {
		return usageError("%s: not implemented yet", name)
	}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:    "sentitune",
		Usage:   "task-specific sentiment classification with LoRA-tuned chat models",
		Version: moduleVersion(),
		Commands: []*cli.Command{
			prepCommand(),
			initModelCommand(),
			downloadCommand(),
			tokenizeCommand(),
			logitsCommand(),
			finetuneCommand(),
			mergeCommand(),
			evalCommand(),
			predictCommand(),
			serveCommand(),
			studioCommand(),
			runCommand(),
			selftestCommand(),
		},
		HideHelpCommand: true,
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = flagUsageError(cmd.Name)
	}
	return app
}

// flagUsageError makes a flag value that does not parse (--threshold abc) a usage error: exit 2.
func flagUsageError(name string) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		return usageError("%s: %w (see sentitune %s --help)", name, err, name)
	}
}

// init keeps the main goroutine, which makes every libtorch call of a command, on the process's
// main thread: one thread means one glibc malloc arena, which torch.Load tunes to keep freed tensor
// buffers (with calls hopping between threads, glibc can hand a whole per-thread heap back to the
// kernel and fault it in again on the next step).
func init() { runtime.LockOSThread() }

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "sentitune:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is the process's exit status for a command's error: an exitError's code, else 1.
func exitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
