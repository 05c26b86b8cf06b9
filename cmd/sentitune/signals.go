package main

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/sentitune/sentitune/internal/atomicfile"
)

// removeTempsOnSignal makes SIGINT and SIGTERM first remove the temporary files and folders being
// written (atomicfile.Track), then end the process by the same signal as before, so a launcher
// or shell still sees it killed. Not for serve, which drains on these signals.
func removeTempsOnSignal() {
	installSignalCleanup.Do(func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			s := <-sigs
			atomicfile.RemoveInFlight()
			signal.Reset(s)
			syscall.Kill(os.Getpid(), s.(syscall.Signal))
		}()
	})
}

var installSignalCleanup sync.Once
