// Package launch starts and watches the processes of a data-parallel run:
// the torchrun environment each rank reads, a local launcher for N workers,
// and the liveness channel that names a rank that died. It knows nothing of
// what the workers compute.
package launch

import (
	"fmt"
	"strconv"
	"strings"
)

// Environment variables of a data-parallel run: torchrun's names, plus
// SENTITUNE_WATCH_PORT for the liveness channel.
const (
	EnvRank       = "RANK"
	EnvWorldSize  = "WORLD_SIZE"
	EnvLocalRank  = "LOCAL_RANK"
	EnvLocalWorld = "LOCAL_WORLD_SIZE"
	EnvMasterAddr = "MASTER_ADDR"
	EnvMasterPort = "MASTER_PORT"
	EnvWatchPort  = "SENTITUNE_WATCH_PORT"
	// torchrun's agent already serves a TCPStore on MASTER_PORT when it sets this.
	envAgentStore = "TORCHELASTIC_USE_AGENT_STORE"
)

// Env is a process's place in a data-parallel run.
type Env struct {
	Rank, World           int
	LocalRank, LocalWorld int    // on this machine: LOCAL_RANK picks the GPU
	Addr                  string // MASTER_ADDR: the machine of rank 0
	StorePort             int    // c10d's TCPStore, hosted by rank 0
	WatchPort             int    // sentitune's liveness channel, hosted by rank 0
}

// EnvFrom reads the torchrun environment through getenv (os.Getenv).
// Without WORLD_SIZE (or with 1) the run has one rank; without LOCAL_RANK and
// LOCAL_WORLD_SIZE each process is alone on its machine. rank 0 hosts c10d's
// store on MASTER_PORT (MASTER_PORT+1 under torchrun, whose agent holds
// MASTER_PORT) and the liveness channel on the store's port + 1, unless
// SENTITUNE_WATCH_PORT names another.
func EnvFrom(getenv func(string) string) (Env, error) {
	e := Env{World: 1, LocalWorld: 1}
	num := func(name string, def int) (int, error) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("distributed: %s=%q is not a number >= 0", name, v)
		}
		return n, nil
	}
	var err error
	if e.World, err = num(EnvWorldSize, 1); err != nil {
		return e, err
	}
	if e.World <= 1 {
		return Env{World: 1, LocalWorld: 1}, nil
	}
	if strings.TrimSpace(getenv(EnvRank)) == "" {
		return e, fmt.Errorf("distributed: %s=%d but %s is not set", EnvWorldSize, e.World, EnvRank)
	}
	if e.Rank, err = num(EnvRank, 0); err != nil {
		return e, err
	}
	if e.Rank >= e.World {
		return e, fmt.Errorf("distributed: %s=%d is not below %s=%d", EnvRank, e.Rank, EnvWorldSize, e.World)
	}
	// Without LOCAL_*, one process per machine (a pod, a Slurm task with its own GPU).
	if e.LocalRank, err = num(EnvLocalRank, 0); err != nil {
		return e, err
	}
	if e.LocalWorld, err = num(EnvLocalWorld, 1); err != nil {
		return e, err
	}
	if e.LocalWorld == 0 || e.LocalRank >= e.LocalWorld {
		return e, fmt.Errorf("distributed: %s=%d is not below %s=%d", EnvLocalRank, e.LocalRank, EnvLocalWorld, e.LocalWorld)
	}
	if e.Addr = strings.TrimSpace(getenv(EnvMasterAddr)); e.Addr == "" {
		e.Addr = "127.0.0.1"
	}
	port, err := num(EnvMasterPort, 0)
	if err != nil {
		return e, err
	}
	if port == 0 || port > 65535 {
		return e, fmt.Errorf("distributed: %s=%d but %s is not set to a port", EnvWorldSize, e.World, EnvMasterPort)
	}
	e.StorePort = port
	if strings.EqualFold(getenv(envAgentStore), "true") {
		e.StorePort = port + 1
	}
	if e.WatchPort, err = num(EnvWatchPort, e.StorePort+1); err != nil {
		return e, err
	}
	if e.WatchPort == 0 || e.WatchPort > 65535 || e.WatchPort == e.StorePort {
		return e, fmt.Errorf("distributed: liveness port %d is not a free port beside the store's %d (set %s)", e.WatchPort, e.StorePort, EnvWatchPort)
	}
	return e, nil
}
