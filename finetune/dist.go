package finetune

// Data-parallel training over libtorch's c10d process groups (Gloo on CPU,
// NCCL on CUDA), launched by torchrun, a cluster's job system or
// `sentitune finetune --nproc N` (launch.Local).
//
// Every rank computes the same global batch plan (LengthGroupedBatches with the
// run's seed) and runs its own rows of each batch: rank r takes rows r, r+N,
// r+2N, ... of the length-sorted batch, so --batch-size is the GLOBAL batch of
// one forward pass and each rank runs about batch-size/N rows. The loss of a
// rank's rows is divided by the answer tokens of the whole global step, so the
// all-reduced (summed) gradients are the single-process gradients: the world
// size changes the speed, not the numbers (up to float summation order), and
// a run may resume with another world size.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/launch"
	"github.com/sentitune/sentitune/internal/torch"
)

// gradBucketBytes caps one all-reduce: gradients go in buckets of about this
// size (PyTorch DDP's default bucket_cap_mb), so the flat copy the collective
// makes stays small even with modules_to_save.
const gradBucketBytes = 25 << 20

// dist is one rank's side of a data-parallel run; a nil or one-rank dist
// makes every hook a no-op, so Train reads the same either way.
type dist struct {
	env      launch.Env
	backend  string
	timeout  time.Duration
	watch    *launch.Watchdog
	group    *torch.Group
	collDev  torch.Device // where the small reductions (loss, eval counts) live
	progress func(format string, a ...any)
}

// startDist joins the run described by the environment: it checks cfg
// against it, gives each rank its GPU (cuda:LOCAL_RANK) and its share of the
// CPU threads, and connects the liveness channel. The c10d group itself is
// created later, by connect, once every rank has loaded the model.
func startDist(cfg Config, dev torch.Device) (*dist, torch.Device, error) {
	env, err := launch.EnvFrom(os.Getenv)
	if err != nil {
		return nil, dev, err
	}
	if env.World == 1 {
		if cfg.NProc > 1 {
			return nil, dev, fmt.Errorf("nproc %d: %s is not set; start the workers with `sentitune finetune --nproc %d` or torchrun",
				cfg.NProc, launch.EnvWorldSize, cfg.NProc)
		}
		return &dist{env: env}, dev, nil
	}
	if cfg.NProc > 1 && cfg.NProc != env.World {
		return nil, dev, fmt.Errorf("--nproc %d but %s=%d: under torchrun or a cluster launcher leave --nproc out", cfg.NProc, launch.EnvWorldSize, env.World)
	}
	if !torch.DistAvailable() {
		return nil, dev, errors.New("distributed training: this libsentitorch build has no c10d support (install libgloo-dev and rebuild the shim: make setup shim)")
	}
	if dev.CUDA && isPlainCUDA(cfg.Device) {
		// One GPU per rank: cuda:LOCAL_RANK, or the only GPU a launcher left visible.
		i := env.LocalRank
		if n := torch.CUDADeviceCount(); n == 1 {
			i = 0
		} else if i >= n {
			return nil, dev, fmt.Errorf("rank %d: LOCAL_RANK %d but only %d CUDA devices are visible", env.Rank, env.LocalRank, n)
		}
		dev = torch.CUDA(i)
	}
	backend := cfg.DistBackend
	if backend == "" || backend == "auto" {
		backend = "gloo"
		if dev.CUDA {
			backend = "nccl"
		}
	}
	if backend == "nccl" && !dev.CUDA {
		return nil, dev, errors.New("--dist-backend nccl needs --device cuda (use gloo on the CPU)")
	}
	if !dev.CUDA && cfg.Threads == 0 {
		// Ranks on one machine share its cores instead of each taking them all.
		if err := torch.SetNumThreads(max(1, runtime.NumCPU()/max(1, env.LocalWorld))); err != nil {
			return nil, dev, err
		}
	}
	d := &dist{env: env, backend: backend, timeout: time.Duration(cfg.DistTimeout * float64(time.Second)), collDev: torch.CPU}
	if backend == "nccl" {
		d.collDev = dev
	}
	if d.watch, err = launch.Join(env, distJoinTimeout); err != nil {
		return nil, dev, err
	}
	return d, dev, nil
}

// distJoinTimeout is how long ranks wait for each other to start: pods may
// need minutes to pull an image. Collectives later use --dist-timeout.
var distJoinTimeout = 10 * time.Minute

func isPlainCUDA(device string) bool {
	switch strings.ToLower(strings.TrimSpace(device)) {
	case "", "auto", "cuda", "gpu":
		return true
	}
	return false
}

func (d *dist) on() bool { return d != nil && d.env.World > 1 }

// lead is true on rank 0, which alone writes the run folder.
func (d *dist) lead() bool { return !d.on() || d.env.Rank == 0 }

func (d *dist) rank() int {
	if !d.on() {
		return 0
	}
	return d.env.Rank
}

func (d *dist) world() int {
	if !d.on() {
		return 1
	}
	return d.env.World
}

// seedOffset keeps LoRA dropout masks independent across ranks (rank 0 draws
// what a single process draws).
func (d *dist) seedOffset() uint64 { return uint64(d.rank()) << 32 }

// shard is this rank's rows of one global batch: rows r, r+N, ... of the
// length-sorted batch, so every rank gets rows of about the same length.
func (d *dist) shard(idx []int) []int {
	if !d.on() {
		return idx
	}
	var out []int
	for i := d.env.Rank; i < len(idx); i += d.env.World {
		out = append(out, idx[i])
	}
	return out
}

// owns says whether evaluation batch b is this rank's.
func (d *dist) owns(b int) bool { return !d.on() || b%d.env.World == d.env.Rank }

// prepareOut lets rank 0 create (or check) the run folder and tells every
// rank which checkpoint to resume from, after checking that all ranks run the
// same settings on the same data.
func (d *dist) prepareOut(cfg Config, fp fingerprint) (string, error) {
	if !d.on() {
		return prepareOut(cfg, fp)
	}
	mine := fp
	mine.Model, mine.Compute = "", "" // paths and devices may differ across machines
	b, _ := json.Marshal(mine)
	if _, err := d.watch.Exchange("settings", string(b), func(rank int, v string) error {
		var theirs fingerprint
		if err := json.Unmarshal([]byte(v), &theirs); err != nil {
			return err
		}
		if diff := mine.diff(theirs); len(diff) > 0 {
			return fmt.Errorf("rank %d runs other settings or data than rank 0 (%s)", rank,
				strings.ReplaceAll(strings.ReplaceAll(strings.Join(diff, "; "), "checkpoint ", "rank 0 "), "now ", fmt.Sprintf("rank %d ", rank)))
		}
		return nil
	}); err != nil {
		return "", err
	}
	ckpt := ""
	if d.lead() {
		var err error
		if ckpt, err = prepareOut(cfg, fp); err != nil {
			return "", err
		}
	}
	return d.watch.Exchange("checkpoint", ckpt, nil)
}

// openLog opens the training log on rank 0; the others log nowhere.
func (d *dist) openLog(dir string, start int) (*trainLog, error) {
	if d.lead() {
		return openLog(dir, start)
	}
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return &trainLog{f: f}, nil
}

// connect creates the c10d group once every rank is ready (model loaded, so
// loading times do not eat into the collective timeout) and copies rank 0's
// trainable parameters to all ranks: the same seed already gives the same
// LoRA init, this makes it certain.
func (d *dist) connect(params []*torch.Tensor) error {
	if !d.on() {
		return nil
	}
	if _, err := d.watch.Exchange("ready", "", nil); err != nil {
		return err
	}
	g, err := torch.InitGroup(d.backend, d.env.Addr, d.env.StorePort, d.env.Rank, d.env.World, d.timeout)
	if err != nil {
		return d.attribute(err)
	}
	d.group = g
	s := torch.NewScope()
	defer s.Close()
	for _, b := range buckets(params, gradBucketBytes) {
		// One tensor per collective: Gloo treats a list as copies of one tensor.
		flat := s.Cat(flatten(s, b), 0)
		if err := s.Err(); err != nil {
			return err
		}
		if err := d.group.Broadcast([]*torch.Tensor{flat}, 0); err != nil {
			return d.attribute(err)
		}
		if err := unflatten(s, flat, b); err != nil {
			return err
		}
	}
	return nil
}

// reduceGrads sums every rank's gradients (bucketed, in place) so the
// clipping and the optimizer step see the gradients of the global batch, and
// sums the rank's loss shares into the global step loss.
func (d *dist) reduceGrads(params []*torch.Tensor, loss float64) (float64, error) {
	if !d.on() {
		return loss, nil
	}
	if err := d.watch.Alive(); err != nil {
		return 0, err
	}
	s := torch.NewScope()
	defer s.Close()
	grads := make([]*torch.Tensor, len(params))
	missing := false
	for i, p := range params {
		if grads[i] = s.Grad(p); grads[i] == nil {
			missing = true
		}
	}
	if missing {
		// No backward reached these parameters here (this rank had no rows in
		// the step): a backward of Σ 0·p gives every one a zero gradient to add.
		var zero *torch.Tensor
		for _, p := range params {
			t := s.Sum(s.MulScalar(p, 0))
			if zero == nil {
				zero = t
			} else {
				zero = s.Add(zero, t)
			}
		}
		s.Backward(zero)
		for i, p := range params {
			grads[i] = s.Grad(p)
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	for _, b := range buckets(grads, gradBucketBytes) {
		if err := d.group.AllReduce(b, false); err != nil {
			return 0, d.attribute(err)
		}
	}
	sums := []float64{loss}
	if err := d.sum(sums); err != nil {
		return 0, err
	}
	return sums[0], nil
}

// sum adds vals across ranks in place (f64).
func (d *dist) sum(vals []float64) error {
	if !d.on() {
		return nil
	}
	if err := d.watch.Alive(); err != nil {
		return err
	}
	s := torch.NewScope()
	defer s.Close()
	t := s.ToDevice(s.FromFloat64(vals, int64(len(vals))), d.collDev)
	if err := s.Err(); err != nil {
		return err
	}
	if err := d.group.AllReduce([]*torch.Tensor{t}, false); err != nil {
		return d.attribute(err)
	}
	got, err := s.ToDevice(t, torch.CPU).Float64s()
	if err != nil {
		return err
	}
	copy(vals, got)
	return nil
}

// attribute names the lost rank in a failed collective's error: a dead peer
// shows up in Gloo as a closed connection or a timeout, while the liveness
// channel knows which rank it was.
func (d *dist) attribute(err error) error {
	if err == nil || d.watch == nil {
		return err
	}
	if lost := d.watch.Wait(3 * time.Second); lost != nil {
		return fmt.Errorf("%w; %v", lost, err)
	}
	return fmt.Errorf("%w (every rank is alive: one did not reach the collective within --dist-timeout %v)", err, d.timeout)
}

// finish ends this rank's part of the run. On success every rank waits until
// rank 0 has written the run's outputs, so all ranks report the same outcome;
// on failure the other ranks are told why.
func (d *dist) finish(err error) error {
	if !d.on() || d.watch == nil {
		return err
	}
	if err == nil {
		_, err = d.watch.Exchange("end", "", nil)
	}
	if err != nil {
		d.watch.Fail(err)
	}
	d.watch.Close(err == nil)
	if err == nil || d.watch.Wait(0) == nil {
		// With a lost peer the group may still wait on it; the process is ending anyway.
		d.group.Close()
	}
	return err
}

// buckets groups tensors, in order, into lists of one dtype and device of at
// most capBytes each (a larger tensor goes alone).
func buckets(ts []*torch.Tensor, capBytes int64) [][]*torch.Tensor {
	var out [][]*torch.Tensor
	var cur []*torch.Tensor
	var size int64
	for _, t := range ts {
		n := t.Numel() * int64(t.DType().Size())
		if len(cur) > 0 && (size+n > capBytes || t.DType() != cur[0].DType() || t.Device() != cur[0].Device()) {
			out, cur, size = append(out, cur), nil, 0
		}
		cur, size = append(cur, t), size+n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func flatten(s *torch.Scope, ts []*torch.Tensor) []*torch.Tensor {
	parts := make([]*torch.Tensor, len(ts))
	for i, t := range ts {
		parts[i] = s.Reshape(t, -1)
	}
	return parts
}

// unflatten copies the pieces of flat back into ts.
func unflatten(s *torch.Scope, flat *torch.Tensor, ts []*torch.Tensor) error {
	var off int64
	for _, t := range ts {
		n := t.Numel()
		if err := t.CopyFrom(s.Reshape(s.Narrow(flat, 0, off, n), t.Shape()...)); err != nil {
			return err
		}
		off += n
	}
	return s.Err()
}
