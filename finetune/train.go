package finetune

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

// Result sums up a finished run.
type Result struct {
	Out             string      // the run folder
	Adapter         string      // RUNDIR/adapter
	Steps           int         // optimizer steps done (in total, across resumes)
	ResumedFrom     int         // the checkpoint step this process started from (0: fresh)
	FinalLoss       float64     // training loss of the last step
	Eval            *EvalResult // evaluation of the adapter written (the best step's with LoadBest); nil without an evaluation split
	TrainSeconds    float64     // wall time of this process's steps
	StepsPerSecond  float64
	TokensPerSecond float64     // prompt + answer tokens (no padding) per second
	PeakMemory      int64       // bytes: CUDA peak allocated on GPU, peak RSS on CPU
	Profile         []PhaseTime // per-phase step times with Config.Profile
	ProfileOps      []OpTime    // the costliest ops per step with Config.Profile
	Log             []LogLine
	Rank, World     int    // this process's place in a data-parallel run (0, 1 alone)
	Backend         string // c10d backend of a data-parallel run (gloo, nccl)

	GradientCheckpointing bool // decoder layers recomputed in backward (--gradient-checkpointing)

	// TrainTruncated and EvalTruncated count the examples whose review --max-len cut (its end).
	TrainTruncated, EvalTruncated int

	Best       *task.BestCheckpoint // the evaluated step the adapter comes from (LoadBest)
	Validation string               // what the evaluations ran on
	Labels     task.Labels          // the classes trained (task.Binary by default)
}

// EvalResult is the loss and label accuracy on the evaluation split.
type EvalResult struct {
	Step     int     `json:"step"`
	Loss     float64 `json:"loss"`     // mean cross-entropy over the answer tokens
	Accuracy float64 `json:"accuracy"` // share of rows whose label-token logit is the largest of the K
	// LabelLoss is the mean K-way cross-entropy over the label tokens' logits at the
	// label position: the part of the loss that decides the prediction.
	LabelLoss float64 `json:"label_loss"`
	Examples  int     `json:"examples"`
}

// Train fine-tunes cfg.Model with LoRA on cfg's data and writes the run folder:
// adapter/, train_log.jsonl, loss.png/.svg, run.json and checkpoints/step-N/.
// progress (nil: none) receives a progress bar and a few notes.
//
// It runs in four phases: setup (data, run shape, run folder, model, LoRA,
// optimizer, the untuned evaluation), step (one optimizer step), evaluate and
// save (after a step), finish (final evaluation, best adapter, outputs). They
// keep these invariants, on which resume and data parallelism rest:
//   - A step depends only on the seed, its number and the data: epoch e's batch
//     plan is epochBatches(lengths, batch size, seed, e), and LoRA dropout is
//     seeded with seed+step (+rank<<32), so a run resumed from checkpoint k
//     continues exactly as the uninterrupted run from step k.
//   - --batch-size is the global batch: rank r of N runs rows r, r+N, ... of
//     each length-sorted batch, and each rank's loss is divided by the answer
//     tokens of the whole global step, so the summed gradients are the
//     one-process gradients; a run may resume with another world size.
//   - Rank 0 alone writes the run folder, after every rank agreed on the
//     settings, the data and the checkpoint to resume from.
//   - Checkpoints are written every --save-every steps, at the best evaluated
//     step (--load-best) and where early stopping ends the run, never at the
//     last step, whose outputs are the run's.
func Train(cfg Config, progress io.Writer) (_ *Result, err error) {
	if progress == nil {
		progress = io.Discard
	}
	t := &trainer{cfg: cfg, progress: progress, begin: time.Now()}
	defer func() { err = t.close(err) }()
	if err := t.setup(); err != nil {
		return nil, err
	}
	trainBegin := time.Now()
	last := t.total // the step training ends at: total, or where early stopping stopped it
	if t.sel.stop(cfg.EarlyStoppingPatience) {
		last = t.start // resumed from the checkpoint where early stopping ended the run
	}
	for step := t.start; step < last; step++ {
		pos, err := t.step(step)
		if err != nil {
			return nil, err
		}
		stop, err := t.evaluateAndSave(step+1, pos)
		if err != nil {
			return nil, err
		}
		if stop {
			last = step + 1
			break
		}
	}
	return t.finish(last, time.Since(trainBegin).Seconds())
}

// trainer is one run of Train: what setup builds and the steps share.
type trainer struct {
	cfg      Config
	progress io.Writer
	begin    time.Time
	dev      torch.Device
	d        *dist

	// Data (setup).
	tok                 *tokenizer.Tokenizer
	train, evalSet      []example
	trainPath, evalPath string
	validation          string
	labels              task.Labels // the classes (Binary unless --labels or the prep folder say otherwise)
	labelIDs            []int       // each class's answer token id, in class order
	hashes              map[string]string
	meta                task.Meta

	// The run's shape (setup).
	lengths       []int
	stepsPerEpoch int
	total         int
	sched         Schedule
	fp            fingerprint

	// Model and training state.
	model     *llm.Model
	tensors   []*torch.Tensor // the trainable parameters
	opt       *torch.AdamW
	log       *trainLog
	mon       *monitor
	ev        evaluator
	sel       *selection
	prof      *stepProfile
	shapes    *ShapePlan // --static-shapes: the micro-batch shapes (static.go), else nil
	res       *Result
	start     int     // the step this process starts at (a checkpoint's, or 0)
	elapsed0  float64 // seconds the run had trained before this process
	plan      [][]int // the current epoch's batches
	planEpoch int
	tokens    int     // prompt + answer tokens this process trained on
	lastLoss  float64 // the last step's loss (NaN before one)
}

// planPos is where a step ended in its epoch's batch plan (for a checkpoint).
type planPos struct{ epoch, batch int }

// setup reads and checks everything before the first step: data, the run's
// shape, the run folder (or the checkpoint to resume), model, LoRA and optimizer,
// and evaluates the untuned model.
func (t *trainer) setup() error {
	cfg := t.cfg
	if err := cfg.Validate(); err != nil {
		return err
	}
	ref := cfg.Model
	model, err := hub.ResolveModel(ref) // ORG/NAME: its folder in a hub cache
	if err != nil {
		return err
	}
	t.cfg.Model, cfg.Model = model, model
	if err := loraConfig(cfg).Validate(); err != nil {
		return err
	}
	if err := torch.Load(); err != nil { // before any output exists
		return err
	}
	dev, err := torch.ParseDevice(cfg.Device)
	if err != nil {
		return err
	}
	dtype, explicit, err := llm.ParseComputeDType(cfg.DType)
	if err != nil {
		return err
	}
	if t.d, t.dev, err = startDist(cfg, dev); err != nil { // data parallelism (dist.go); a no-op alone
		return err
	}
	if !t.d.lead() {
		t.progress = io.Discard
	}
	recs, err := t.readData()
	if err != nil {
		return err
	}
	t.shape()
	ckpt, err := t.d.prepareOut(cfg, t.fp)
	if err != nil {
		return err
	}
	if err := t.loadModel(ckpt, dtype, explicit); err != nil {
		return err
	}

	t.meta = t.labels.NewMeta(recs[0].Record, t.tok, t.labelIDs, cfg.MaxLen)
	if err := t.meta.SetAspects(recs); err != nil { // prep --aspects records: scoring asks about each aspect
		return fmt.Errorf("finetune: %s: %w", t.trainPath, err)
	}
	// sentitune.json's quantization_bit: merge folds the adapter into the base as training quantized it.
	t.meta.QuantizationBit = cfg.QuantizationBit
	if ref != model { // a hub name, recorded as PEFT records it, so the adapter names its base on any machine
		t.meta.BaseModel = ref
	}
	t.res = &Result{Out: cfg.Out, Adapter: filepath.Join(cfg.Out, DirAdapter), ResumedFrom: t.start, Rank: t.d.rank(), World: t.d.world(), Labels: t.labels}
	t.res.TrainTruncated, t.res.EvalTruncated = countCut(t.train), countCut(t.evalSet)
	t.res.GradientCheckpointing = t.model.GradientCheckpointing()
	if t.d.on() {
		t.res.Backend = t.d.backend
		fmt.Fprintf(t.progress, "data parallel: %d ranks over %s; each runs about %d of a batch's %d rows\n",
			t.d.world(), t.d.backend, (cfg.BatchSize+t.d.world()-1)/t.d.world(), cfg.BatchSize)
	}
	if t.mon, err = newMonitor(cfg, t.progress, t.dev, t.start, t.total, t.d.lead()); err != nil { // bar or log lines; TensorBoard
		return err
	}
	t.ev = evaluator{model: t.model, set: t.evalSet, batch: cfg.BatchSize, ids: t.labelIDs, fullLogits: cfg.FullLogits, d: t.d}
	if t.start == 0 && cfg.EvalEvery > 0 {
		if err := t.evaluate(0); err != nil { // the untuned model, for comparison
			return err
		}
	}
	t.planEpoch, t.lastLoss = -1, math.NaN()
	tracePath := ""
	if t.d.lead() {
		tracePath = cfg.Trace
	}
	if err := t.planShapes(); err != nil {
		return err
	}
	t.prof = newStepProfile(cfg.Profile, tracePath, t.total-t.start, t.dev)
	return nil
}

// readData reads the training and evaluation examples (every record through
// the same prompt builder predict uses) and returns the training records.
func (t *trainer) readData() ([]task.Example, error) {
	cfg := t.cfg
	var err error
	if t.trainPath, t.evalPath, err = dataFiles(cfg); err != nil {
		return nil, err
	}
	if t.tok, err = tokenizer.Load(cfg.Model); err != nil {
		return nil, err
	}
	if t.tok, err = t.tok.WithTemplate(cfg.Template); err != nil {
		return nil, fmt.Errorf("--template: %w", err)
	}
	if t.tok.Chat() == nil {
		return nil, fmt.Errorf("model %s has no chat template (give --template: a name, raw for a base model, or a .jinja file)", cfg.Model)
	}
	if t.labels, err = labelSetOf(cfg); err != nil {
		return nil, err
	}
	if t.labelIDs, err = labelTokenIDs(t.labels, t.tok); err != nil {
		return nil, err
	}
	if !t.labels.IsBinary() {
		fmt.Fprintf(t.progress, "finetune: %d classes %s\n", len(t.labels), t.labels)
	}
	train, recs, err := readExamplesIn(t.tok, t.trainPath, cfg.MaxLen, t.labels)
	if err != nil {
		if strings.Contains(err.Error(), "no Alpaca records") {
			return nil, fmt.Errorf("empty training set: %w", err)
		}
		return nil, err
	}
	fmt.Fprint(t.progress, answerMapping(t.trainPath, t.labels, recs))
	var evalSet []example
	if t.evalPath != "" {
		if evalSet, _, err = readExamplesIn(t.tok, t.evalPath, cfg.MaxLen, t.labels); err != nil {
			return nil, err
		}
	}
	t.validation = t.evalPath
	if t.evalPath == "" { // model selection on a slice of train, never on test.json
		n := len(train)
		train, evalSet = carveValidation(train, cfg.ValRatio, cfg.Seed)
		t.validation = fmt.Sprintf("%d of %d rows of %s held out (val-ratio %g, stratified, seed %d): no val split",
			len(evalSet), n, filepath.Base(t.trainPath), cfg.ValRatio, cfg.Seed)
		if len(evalSet) == 0 {
			t.validation = "none (no val split, and val-ratio 0 or too few training rows): no evaluation during training"
		}
		fmt.Fprintf(t.progress, "validation: %s\n", t.validation)
	}
	t.train, t.evalSet = train, evalSet
	if t.hashes, err = dataHashes(t.trainPath, t.evalPath); err != nil {
		return nil, err
	}
	return recs, nil
}

// shape fixes the run's shape: batches per epoch, optimizer steps, schedule.
func (t *trainer) shape() {
	cfg := t.cfg
	t.lengths = lengthsOf(t.train)
	batchesPerEpoch := (len(t.train) + cfg.BatchSize - 1) / cfg.BatchSize
	t.stepsPerEpoch = (batchesPerEpoch + cfg.GradAccum - 1) / cfg.GradAccum
	t.total = cfg.MaxSteps
	if t.total == 0 {
		t.total = int(math.Ceil(cfg.Epochs * float64(t.stepsPerEpoch)))
	}
	t.sched = NewSchedule(cfg.Scheduler, cfg.LR, t.total, cfg.WarmupRatio)
	t.fp = fingerprintOf(cfg, t.hashes, len(t.train), t.total)
}

// loadModel loads the model and attaches a new adapter (a fresh run) or the
// checkpoint's, with its optimizer state and best evaluation so far; then it
// joins the ranks' trainable parameters and opens the training log.
func (t *trainer) loadModel(ckpt string, dtype torch.DType, explicit bool) error {
	cfg := t.cfg
	if cfg.Threads > 0 {
		if err := torch.SetNumThreads(cfg.Threads); err != nil {
			return err
		}
	}
	var err error
	if t.model, err = llm.LoadModel(cfg.Model, llm.LoadOptions{Device: t.dev, DType: dtype, ExplicitDType: explicit,
		QuantizationBit: cfg.QuantizationBit}); err != nil {
		return err
	}
	t.model.SetGradientCheckpointing(gradientCheckpointing(cfg, t.dev))
	fmt.Fprintf(t.progress, "finetune: %d examples, %d steps (batch %d × accumulation %d), %d evaluation examples, %v %v\n",
		len(t.train), t.total, cfg.BatchSize, cfg.GradAccum, len(t.evalSet), t.model.Device(), t.model.DType())
	fmt.Fprint(t.progress, truncationLine(cfg.MaxLen, t.train, t.evalSet))

	t.sel = &selection{Metric: metricForBest(cfg)}
	if ckpt != "" {
		st, err := loadCheckpoint(ckpt, t.model)
		if err != nil {
			return err
		}
		t.start, t.elapsed0 = st.Step, st.ElapsedS
		if st.Selection != nil {
			t.sel = st.Selection
		}
	} else if err := t.model.AddLoRA(loraConfig(cfg), cfg.Seed); err != nil {
		return err
	}
	params := t.model.TrainableParams()
	if t.opt, err = newOptimizer(cfg, params); err != nil {
		return err
	}
	if ckpt != "" {
		if err := loadOptimizer(ckpt, t.opt, params); err != nil {
			return err
		}
		fmt.Fprintf(t.progress, "resuming from %s (step %d of %d)\n", ckpt, t.start, t.total)
	} else if cfg.Resume {
		fmt.Fprintf(t.progress, "resume: no checkpoint in %s yet: starting from step 0\n", cfg.Out)
	}
	t.tensors = make([]*torch.Tensor, len(params))
	for i, p := range params {
		t.tensors[i] = p.T
	}
	if err := t.d.connect(t.tensors); err != nil {
		return err
	}
	if t.log, err = t.d.openLog(cfg.Out, t.start); err != nil {
		return err
	}
	if t.dev.CUDA {
		torch.CUDAResetPeak(t.dev.Index)
	}
	return nil
}

// close releases what setup acquired, in reverse order, and ends this rank's
// part of the run; err is the run's error so far.
func (t *trainer) close(err error) error {
	t.prof.stop() // also when a step failed while recording
	if t.mon != nil {
		if cerr := t.mon.close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if t.log != nil {
		t.log.Close()
	}
	if t.opt != nil {
		t.opt.Close()
	}
	if t.model != nil {
		t.model.Close()
	}
	return t.d.finish(err)
}

// evaluate scores the evaluation split at step, logs it and tells the model selection.
func (t *trainer) evaluate(step int) error {
	if len(t.evalSet) == 0 {
		return nil
	}
	r, err := t.ev.run()
	if err != nil {
		return hintOOM(fmt.Errorf("evaluate at step %d: %w", step, err), t.cfg)
	}
	r.Step = step
	t.res.Eval = r
	t.sel.observe(r)
	acc, labelLoss := r.Accuracy, r.LabelLoss
	line := LogLine{Step: step, Epoch: float64(step) / float64(t.stepsPerEpoch), Split: "eval", Loss: r.Loss, LabelLoss: &labelLoss,
		LR: t.sched.LR(max(step-1, 0)), Accuracy: &acc, Examples: r.Examples, ElapsedS: t.elapsed0 + time.Since(t.begin).Seconds()}
	if err := t.log.add(line); err != nil {
		return err
	}
	return t.mon.eval(line)
}

// step runs optimizer step number step (0-based): its micro-batches forward
// and backward, the gradient all-reduce, clipping, AdamW, the log line.
func (t *trainer) step(step int) (planPos, error) {
	cfg, d, prof := t.cfg, t.d, t.prof
	if err := prof.begin(); err != nil {
		return planPos{}, err
	}
	stepBegin := time.Now()
	epoch, first := step/t.stepsPerEpoch, (step%t.stepsPerEpoch)*cfg.GradAccum
	if epoch != t.planEpoch {
		t.plan, t.planEpoch = epochBatches(t.lengths, cfg.BatchSize, cfg.Seed, epoch), epoch
	}
	micro := t.plan[first:min(first+cfg.GradAccum, len(t.plan))]
	pos := planPos{epoch: epoch, batch: first + len(micro)}

	// Seeding each step makes LoRA dropout depend only on the step, so a resumed run
	// draws the same masks as an uninterrupted one.
	if err := torch.ManualSeed(cfg.Seed + uint64(step) + d.seedOffset()); err != nil {
		return pos, err
	}
	lr := t.sched.LR(step)
	if err := setLR(t.opt, cfg, lr); err != nil {
		return pos, err
	}
	if err := t.opt.ZeroGrad(); err != nil {
		return pos, err
	}
	if err := prof.mark("zero grad, lr"); err != nil {
		return pos, err
	}
	answerTokens, stepTokens := 0, 0
	for _, idx := range micro {
		for _, i := range idx {
			answerTokens += t.train[i].answerLen()
			stepTokens += len(t.train[i].ids)
		}
	}
	vals := torch.NewScope() // the step's loss and gradient norm: on the device until the log line reads them
	defer vals.Close()
	var lossT *torch.Tensor
	labels := &labelTally{ids: t.labelIDs, vals: vals}
	for _, idx := range micro {
		if idx = d.shard(idx); len(idx) == 0 {
			continue // more ranks than rows in this batch
		}
		l, err := microBatchLoss(vals, t.model, t.shaped(pick(t.train, idx)), answerTokens, cfg.FullLogits, prof, labels)
		if err != nil {
			return pos, hintOOM(fmt.Errorf("step %d: %w", step+1, err), cfg)
		}
		lossT = addLoss(vals, lossT, l)
	}
	loss := 0.0
	if d.on() { // the ranks sum host values: this rank's loss is read here
		l, _, err := stepValues(vals, lossT, nil)
		if err == nil {
			loss, err = d.reduceGrads(t.tensors, l) // sum over ranks
		}
		if err != nil {
			return pos, fmt.Errorf("step %d: %w", step+1, err)
		}
		lossT = nil
	}
	if d.on() {
		if err := prof.mark("grad all-reduce"); err != nil {
			return pos, err
		}
	}
	maxNorm := cfg.MaxGradNorm
	if maxNorm == 0 {
		maxNorm = math.Inf(1) // report the norm, clip nothing
	}
	gradNormT, err := torch.ClipGradNormTensor(vals, t.tensors, maxNorm)
	if err != nil {
		return pos, fmt.Errorf("step %d: %w", step+1, err)
	}
	if err := prof.mark("clip grad norm"); err != nil {
		return pos, err
	}
	if err := t.opt.Step(); err != nil {
		return pos, hintOOM(fmt.Errorf("step %d: %w", step+1, err), cfg)
	}
	if err := prof.mark("optimizer step"); err != nil {
		return pos, err
	}
	stepLoss, gradNorm, err := stepValues(vals, lossT, gradNormT) // the step's one read, after its work is queued
	loss += stepLoss
	if err != nil {
		return pos, fmt.Errorf("step %d: %w", step+1, err)
	}
	labelLoss, err := labels.mean(d)
	if err != nil {
		return pos, fmt.Errorf("step %d: %w", step+1, err)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return pos, fmt.Errorf("step %d: loss is %v (try a lower --lr, now %g)", step+1, loss, cfg.LR)
	}

	dt := time.Since(stepBegin).Seconds()
	t.tokens += stepTokens
	t.lastLoss = loss
	gn := gradNorm
	line := LogLine{Step: step + 1, Epoch: float64(first+len(micro))/float64(len(t.plan)) + float64(epoch), Split: "train",
		Loss: loss, LR: lr, GradNorm: &gn, Examples: countRows(micro), Tokens: stepTokens, TokensPerS: float64(stepTokens) / dt,
		ElapsedS: t.elapsed0 + time.Since(t.begin).Seconds()}
	line.LabelLoss = &labelLoss
	t.mon.stamp(&line)
	if err := t.log.add(line); err != nil {
		return pos, err
	}
	if err := t.mon.train(line); err != nil {
		return pos, err
	}
	if err := prof.mark("log, progress"); err != nil {
		return pos, err
	}
	if err := prof.end(); err != nil {
		return pos, err
	}
	return pos, nil
}

// evaluateAndSave runs after step done: an evaluation every --eval-every
// steps, a checkpoint when one is due, and whether early stopping ends the run here.
func (t *trainer) evaluateAndSave(done int, pos planPos) (stop bool, err error) {
	cfg := t.cfg
	if cfg.EvalEvery > 0 && done%cfg.EvalEvery == 0 && done != t.total {
		if err := t.evaluate(done); err != nil {
			return false, err
		}
	}
	stop = t.sel.stop(cfg.EarlyStoppingPatience)
	keepBest := cfg.LoadBest && t.sel.isBest(done) // the best evaluated step always gets a checkpoint
	if (cfg.SaveEvery > 0 && done%cfg.SaveEvery == 0 || keepBest || stop) && done != t.total && t.d.lead() {
		st := trainerState{Step: done, Epoch: pos.epoch, Batch: pos.batch, StepsPerEpoch: t.stepsPerEpoch,
			TotalSteps: t.total, Schedule: t.sched, Seed: cfg.Seed, ElapsedS: t.elapsed0 + time.Since(t.begin).Seconds(), Fingerprint: t.fp,
			Selection: t.sel}
		if err := saveCheckpoint(cfg, t.model, t.opt, t.meta, st); err != nil {
			return false, err
		}
	}
	if stop {
		fmt.Fprintf(t.progress, "early stopping at step %d of %d: %s has not improved for %d evaluations (best %s)\n",
			done, t.total, t.sel.Metric, t.sel.Since, t.sel)
	}
	return stop, nil
}

// finish ends a run that trained up to step last in trainSeconds: the final
// evaluation, the best checkpoint's adapter (--load-best), and rank 0's outputs.
func (t *trainer) finish(last int, trainSeconds float64) (*Result, error) {
	cfg, res, d := t.cfg, t.res, t.d
	t.mon.finishSteps()
	res.Profile, res.ProfileOps = t.prof.summary(), t.prof.ops()
	if err := t.prof.finishTrace(); err != nil {
		return nil, err
	}
	if last == t.total {
		if err := t.evaluate(t.total); err != nil {
			return nil, err
		}
	}
	if cfg.LoadBest && t.sel.Best != nil {
		res.Best = t.sel.Best
		t.meta.Best = t.sel.Best
		if t.sel.Best.Step != last {
			res.Eval = t.sel.Eval
			// The written adapter is the best evaluated checkpoint's, byte for byte (rank 0 wrote and writes it).
			if d.lead() {
				if _, err := LoadAdapter(t.model, filepath.Join(checkpointDir(cfg.Out, t.sel.Best.Step), ckptAdapterDir)); err != nil {
					return nil, fmt.Errorf("load the best checkpoint (step %d): %w", t.sel.Best.Step, err)
				}
			}
		}
		if cfg.EvalEvery > 0 {
			fmt.Fprintf(t.progress, "best checkpoint: %s; the adapter is that step's\n", t.sel)
		}
	}

	// Outputs (rank 0's alone).
	if d.lead() {
		if err := SaveAdapter(t.model, filepath.Join(cfg.Out, DirAdapter), t.meta); err != nil {
			return nil, err
		}
		if err := writeLossPlot(cfg.Out, t.log.lines); err != nil {
			return nil, err
		}
	}
	res.Steps, res.FinalLoss, res.TrainSeconds, res.Log, res.Validation = last, t.lastLoss, trainSeconds, t.log.lines, t.validation
	if last > t.start && trainSeconds > 0 {
		res.StepsPerSecond = float64(last-t.start) / trainSeconds
		res.TokensPerSecond = float64(t.tokens) / trainSeconds
	}
	if math.IsNaN(t.lastLoss) { // resumed from the last checkpoint: nothing left to run
		res.FinalLoss = lastTrainLoss(t.log.lines)
	}
	res.PeakMemory = peakMemory(t.dev)
	if !d.lead() {
		return res, nil
	}
	if err := writeRunJSON(cfg, res, t.model, t.trainPath, t.evalPath, t.hashes, time.Since(t.begin).Seconds(), len(t.train), len(t.evalSet)); err != nil {
		return nil, err
	}
	return res, nil
}

// stepValues reads a step's loss and gradient norm (either may be nil: 0) back to the host in one
// read, as f64.
func stepValues(s *torch.Scope, loss, gradNorm *torch.Tensor) (float64, float64, error) {
	var ts []*torch.Tensor
	for _, t := range []*torch.Tensor{loss, gradNorm} {
		if t != nil {
			ts = append(ts, s.ToDType(t, torch.Float64))
		}
	}
	if len(ts) == 0 {
		return 0, 0, nil
	}
	v, err := s.Stack(ts, 0).Float64s()
	if err == nil {
		err = s.Err()
	}
	if err != nil {
		return 0, 0, err
	}
	var l, g float64
	if loss != nil {
		l, v = v[0], v[1:]
	}
	if gradNorm != nil {
		g = v[0]
	}
	return l, g, nil
}

// addLoss adds a micro-batch's loss to the step's (nil: none yet) in f64, as the host used to.
func addLoss(s *torch.Scope, sum, loss *torch.Tensor) *torch.Tensor {
	loss = s.ToDType(loss, torch.Float64)
	if sum == nil {
		return loss
	}
	return s.Add(sum, loss)
}

// trainMicroBatch runs forward and backward on one batch and returns its share
// of the step's loss: the summed cross-entropy of its answer tokens divided by
// the answer tokens of the whole step, so accumulated gradients equal those of
// one big batch. labels (nil: none) adds up the batch's label-token loss.
func trainMicroBatch(model *llm.Model, exs []example, stepAnswerTokens int, fullLogits bool, prof *stepProfile, labels *labelTally) (float64, error) {
	s := torch.NewScope()
	defer s.Close()
	loss, err := microBatchLoss(s, model, exs, stepAnswerTokens, fullLogits, prof, labels)
	if err != nil {
		return 0, err
	}
	return loss.Item()
}

// microBatchLoss is trainMicroBatch with the loss left on the device, detached, in into.
func microBatchLoss(into *torch.Scope, model *llm.Model, exs []example, stepAnswerTokens int, fullLogits bool, prof *stepProfile, labels *labelTally) (*torch.Tensor, error) {
	s := torch.NewScope()
	defer s.Close()
	ce, err := answerLoss(s, model, exs, fullLogits, labels)
	if err != nil {
		return nil, err
	}
	loss := s.MulScalar(ce, 1/float64(stepAnswerTokens))
	if err := s.Err(); err != nil {
		return nil, err
	}
	if err := prof.mark("forward, loss"); err != nil {
		return nil, err
	}
	if err := model.Backward(s, loss); err != nil { // recomputes checkpointed layers
		return nil, err
	}
	out := into.Adopt(s.Keep(s.Detach(loss)))
	return out, errors.Join(s.Err(), prof.mark("backward"))
}

// answerLogits runs the model and returns the logits that predict each answer
// token, [N, V], with the answer tokens as targets [N]. Position p predicts
// token p+1, so the answer ids[k:] are predicted at positions k-1 .. len-2.
// Only those positions leave the last layer and go through the lm_head
// (Model.HiddenAt) unless fullLogits asks for all T×V.
func answerLogits(s *torch.Scope, model *llm.Model, exs []example, train, fullLogits bool) (logits, targets *torch.Tensor, err error) {
	batch, rows, pos, tgt := answerPositions(exs)
	if fullLogits {
		hidden, err := model.HiddenAt(s, batch, nil, nil, train) // every position, [B·T, H]
		if err != nil {
			return nil, nil, err
		}
		logits, err = allLogitsAt(s, model, hidden, batch.MaxLen(), rows, pos)
	} else {
		var h *torch.Tensor
		if h, err = model.HiddenAt(s, batch, rows, pos, train); err != nil {
			return nil, nil, err
		}
		logits, err = model.Logits(s, h)
	}
	if err != nil {
		return nil, nil, err
	}
	targets = s.ToDevice(s.FromInt64(tgt, int64(len(tgt))), model.Device())
	return logits, targets, s.Err()
}

// answerLoss is the training forward: the summed cross-entropy of the batch's
// answer tokens. With answer-only logits the last layer runs at the answer
// positions alone (Model.HiddenAt) and the loss is Model.AnswerLoss (on the CPU
// one fused pass over the lm_head); fullLogits goes through all T×V logits.
func answerLoss(s *torch.Scope, model *llm.Model, exs []example, fullLogits bool, labels *labelTally) (*torch.Tensor, error) {
	if fullLogits {
		logits, targets, err := answerLogits(s, model, exs, true, true)
		if err != nil {
			return nil, err
		}
		if err := labels.addLogits(s, model, logits, realRows(exs)); err != nil {
			return nil, err
		}
		out := s.CrossEntropy(logits, targets, torch.IgnoreIndex, torch.ReduceSum)
		return out, s.Err()
	}
	batch, rows, pos, tgt := answerPositions(exs)
	h, err := model.HiddenAt(s, batch, rows, pos, true)
	if err != nil {
		return nil, err
	}
	if err := labels.add(s, model, h, realRows(exs)); err != nil {
		return nil, err
	}
	return model.AnswerLoss(s, h, tgt, true)
}

// answerPositions lays out a batch and, for each answer token, the (row,
// position) that predicts it and the token itself.
func answerPositions(exs []example) (batch llm.Batch, rows, pos []int, tgt []int64) {
	batch = llm.Batch{IDs: make([][]int, len(exs))}
	for r, e := range exs {
		batch.IDs[r] = e.ids
		batch.Len = max(batch.Len, e.padTo)
		for p := e.prompt - 1; p < len(e.ids)-1; p++ {
			target := int64(e.ids[p+1])
			if e.filler { // a static-shape filler row: no loss, no gradient
				target = torch.IgnoreIndex
			}
			rows, pos, tgt = append(rows, r), append(pos, p), append(tgt, target)
		}
	}
	return batch, rows, pos, tgt
}

// allLogitsAt computes the logits of every position of the batch ([B·T, V], as
// a general-purpose trainer does; hidden is [B·T, H], T positions a row) and
// then picks the answer rows: the comparison point for answer-only logits.
func allLogitsAt(s *torch.Scope, model *llm.Model, hidden *torch.Tensor, T int, rows, pos []int) (*torch.Tensor, error) {
	all, err := model.Logits(s, hidden)
	if err != nil {
		return nil, err
	}
	idx := make([]int64, len(rows))
	for i := range rows {
		idx[i] = int64(rows[i]*T + pos[i])
	}
	out := s.IndexSelect(all, 0, s.ToDevice(s.FromInt64(idx, int64(len(idx))), model.Device()))
	return out, s.Err()
}

// evaluator scores the evaluation split: mean answer-token loss, and accuracy
// by the largest of the K label tokens' logits at the answer's first position.
type evaluator struct {
	model      *llm.Model
	set        []example
	batch      int
	ids        []int // the label tokens, in class order
	fullLogits bool
	d          *dist // data parallel: each rank scores every N-th batch
}

func (ev evaluator) run() (*EvalResult, error) {
	var lossSum, labelLossSum float64
	var answerTokens, correct int
	err := torch.NoGrad(func() error {
		for b, idx := range sortedBatches(lengthsOf(ev.set), ev.batch) {
			if !ev.d.owns(b) {
				continue
			}
			exs := pick(ev.set, idx)
			if err := func() error {
				s := torch.NewScope()
				defer s.Close()
				logits, targets, err := answerLogits(s, ev.model, exs, false, ev.fullLogits)
				if err != nil {
					return err
				}
				ce, err := s.CrossEntropy(logits, targets, torch.IgnoreIndex, torch.ReduceSum).Item()
				if err != nil {
					return err
				}
				lossSum += ce
				labels := s.IndexSelect(logits, 1, s.ToDevice(s.FromInt64(int64s(ev.ids), int64(len(ev.ids))), ev.model.Device()))
				all, err := s.ToDType(labels, torch.Float32).Float32s()
				if err != nil {
					return err
				}
				K, row := len(ev.ids), 0 // the first answer row of each example is its label position
				for _, e := range exs {
					classes := all[K*row : K*row+K]
					if argmax(classes) == e.label {
						correct++
					}
					labelLossSum += labelCrossEntropy(classes, e.label)
					row += e.answerLen()
					answerTokens += e.answerLen()
				}
				return s.Err()
			}(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sums := []float64{lossSum, float64(answerTokens), float64(correct), labelLossSum}
	if err := ev.d.sum(sums); err != nil {
		return nil, err
	}
	lossSum, answerTokens, correct, labelLossSum = sums[0], int(sums[1]), int(sums[2]), sums[3]
	return &EvalResult{Loss: lossSum / float64(answerTokens), Accuracy: float64(correct) / float64(len(ev.set)),
		LabelLoss: labelLossSum / float64(len(ev.set)), Examples: len(ev.set)}, nil
}

func pick(exs []example, idx []int) []example {
	out := make([]example, len(idx))
	for i, j := range idx {
		out[i] = exs[j]
	}
	return out
}

func countRows(batches [][]int) int {
	n := 0
	for _, b := range batches {
		n += len(b)
	}
	return n
}

func lastTrainLoss(lines []LogLine) float64 {
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i].Split == "train" {
			return lines[i].Loss
		}
	}
	return math.NaN()
}

// loraConfig is the adapter cfg asks for.
func loraConfig(cfg Config) llm.LoRAConfig {
	return llm.LoRAConfig{R: cfg.LoRAR, Alpha: cfg.LoRAAlpha, Dropout: cfg.LoRADropout, Targets: cfg.LoRATarget,
		UseRSLoRA: cfg.UseRSLoRA, ModulesToSave: cfg.ModulesToSave}
}

// newOptimizer builds AdamW over the trainable parameters; with LoRA+ the B
// matrices form a second group whose lr is lr × ratio.
func newOptimizer(cfg Config, params []llm.NamedParam) (*torch.AdamW, error) {
	if len(params) == 0 {
		return nil, errors.New("no trainable parameters (check --lora-target against the model's module names)")
	}
	var main, bs []*torch.Tensor
	for _, p := range params {
		if cfg.LoRAPlusLRRatio > 0 && p.IsLoRAB {
			bs = append(bs, p.T)
		} else {
			main = append(main, p.T)
		}
	}
	groups := []torch.ParamGroup{{Params: main, LR: cfg.LR, WeightDecay: cfg.WeightDecay}}
	if len(bs) > 0 {
		groups = append(groups, torch.ParamGroup{Params: bs, LR: cfg.LR * cfg.LoRAPlusLRRatio, WeightDecay: cfg.WeightDecay})
	}
	// Hugging Face's AdamW defaults, as LLaMA-Factory trains with.
	return torch.NewAdamW(groups, 0.9, 0.999, 1e-8)
}

func setLR(opt *torch.AdamW, cfg Config, lr float64) error {
	if err := opt.SetLR(0, lr); err != nil {
		return err
	}
	if opt.Groups() > 1 {
		return opt.SetLR(1, lr*cfg.LoRAPlusLRRatio)
	}
	return nil
}

// hintOOM adds advice to an out-of-memory error from the engine.
func hintOOM(err error, cfg Config) error {
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "out of memory") {
		return err
	}
	return fmt.Errorf("%w\nout of memory: try a smaller --batch-size (now %d) with a larger --grad-accum (now %d) to keep the effective batch, or a smaller --max-len (now %d)",
		err, cfg.BatchSize, cfg.GradAccum, cfg.MaxLen)
}

// peakMemory is the CUDA peak allocation on a GPU, the peak resident set on the CPU.
func peakMemory(dev torch.Device) int64 {
	if dev.CUDA {
		if m, err := torch.CUDAMemory(dev.Index); err == nil {
			return int64(m.Peak)
		}
	}
	return peakHostMemory()
}
