package finetune

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
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

	// TrainTruncated and EvalTruncated count the examples whose review --max-len cut (its end).
	TrainTruncated, EvalTruncated int

	Best       *llm.BestCheckpoint // the evaluated step the adapter comes from (LoadBest)
	Validation string              // what the evaluations ran on
}

// EvalResult is the loss and label accuracy on the evaluation split.
type EvalResult struct {
	Step     int     `json:"step"`
	Loss     float64 `json:"loss"`     // mean cross-entropy over the answer tokens
	Accuracy float64 `json:"accuracy"` // share of rows whose label-token logit is the larger of the two
	// LabelLoss is the mean two-way cross-entropy over the "0" and "1" logits at the
	// label position: the part of the loss that decides the prediction.
	LabelLoss float64 `json:"label_loss"`
	Examples  int     `json:"examples"`
}

// Train fine-tunes cfg.Model with LoRA on cfg's data and writes the run folder:
// adapter/, train_log.jsonl, loss.png/.svg, run.json and checkpoints/step-N/.
// progress (nil: none) receives a progress bar and a few notes.
func Train(cfg Config, progress io.Writer) (_ *Result, err error) {
	begin := time.Now()
	if progress == nil {
		progress = io.Discard
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := loraConfig(cfg).Validate(); err != nil {
		return nil, err
	}
	if err := torch.Load(); err != nil { // before any output exists
		return nil, err
	}
	dev, err := torch.ParseDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	dtype, explicit, err := llm.ParseComputeDType(cfg.DType)
	if err != nil {
		return nil, err
	}
	d, dev, err := startDist(cfg, dev) // data parallelism (dist.go); a no-op alone
	if err != nil {
		return nil, err
	}
	defer func() { err = d.finish(err) }()
	if !d.lead() {
		progress = io.Discard
	}

	// Data: every record through the same prompt builder predict uses.
	trainPath, evalPath, err := dataFiles(cfg)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(cfg.Model)
	if err != nil {
		return nil, err
	}
	if tok.Chat() == nil {
		return nil, fmt.Errorf("model %s: its tokenizer has no ChatML or Llama-3 chat template", cfg.Model)
	}
	train, recs, err := readExamples(tok, trainPath, cfg.MaxLen)
	if err != nil {
		if strings.Contains(err.Error(), "no Alpaca records") {
			return nil, fmt.Errorf("empty training set: %w", err)
		}
		return nil, err
	}
	var evalSet []example
	if evalPath != "" {
		if evalSet, _, err = readExamples(tok, evalPath, cfg.MaxLen); err != nil {
			return nil, err
		}
	}
	validation := evalPath
	if evalPath == "" { // model selection on a slice of train, never on test.json
		n := len(train)
		train, evalSet = carveValidation(train, cfg.ValRatio, cfg.Seed)
		validation = fmt.Sprintf("%d of %d rows of %s held out (val-ratio %g, stratified, seed %d): no val split",
			len(evalSet), n, filepath.Base(trainPath), cfg.ValRatio, cfg.Seed)
		if len(evalSet) == 0 {
			validation = "none (no val split, and val-ratio 0 or too few training rows): no evaluation during training"
		}
		fmt.Fprintf(progress, "validation: %s\n", validation)
	}
	zeroID, oneID, err := llm.LabelTokenIDs(tok)
	if err != nil {
		return nil, err
	}
	hashes, err := dataHashes(trainPath, evalPath)
	if err != nil {
		return nil, err
	}

	// The run's shape: batches per epoch, optimizer steps, schedule.
	lengths := lengthsOf(train)
	batchesPerEpoch := (len(train) + cfg.BatchSize - 1) / cfg.BatchSize
	stepsPerEpoch := (batchesPerEpoch + cfg.GradAccum - 1) / cfg.GradAccum
	total := cfg.MaxSteps
	if total == 0 {
		total = int(math.Ceil(cfg.Epochs * float64(stepsPerEpoch)))
	}
	sched := NewSchedule(cfg.Scheduler, cfg.LR, total, cfg.WarmupRatio)
	fp := fingerprintOf(cfg, hashes, len(train), total)

	ckpt, err := d.prepareOut(cfg, fp)
	if err != nil {
		return nil, err
	}

	// Model, LoRA, optimizer.
	if cfg.Threads > 0 {
		if err := torch.SetNumThreads(cfg.Threads); err != nil {
			return nil, err
		}
	}
	model, err := llm.LoadModel(cfg.Model, llm.LoadOptions{Device: dev, DType: dtype, ExplicitDType: explicit})
	if err != nil {
		return nil, err
	}
	defer model.Close()
	fmt.Fprintf(progress, "finetune: %d examples, %d steps (batch %d × accumulation %d), %d evaluation examples, %v %v\n",
		len(train), total, cfg.BatchSize, cfg.GradAccum, len(evalSet), model.Device(), model.DType())
	fmt.Fprint(progress, truncationLine(cfg.MaxLen, train, evalSet))

	// A fresh run attaches a new adapter; a resumed one the checkpoint's (and its best evaluation so far).
	start, elapsed0 := 0, 0.0
	sel := &selection{Metric: metricForBest(cfg)}
	if ckpt != "" {
		st, err := loadCheckpoint(ckpt, model)
		if err != nil {
			return nil, err
		}
		start, elapsed0 = st.Step, st.ElapsedS
		if st.Selection != nil {
			sel = st.Selection
		}
	} else if err := model.AddLoRA(loraConfig(cfg), cfg.Seed); err != nil {
		return nil, err
	}
	params := model.TrainableParams()
	opt, err := newOptimizer(cfg, params)
	if err != nil {
		return nil, err
	}
	defer opt.Close()
	if ckpt != "" {
		if err := loadOptimizer(ckpt, opt, params); err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "resuming from %s (step %d of %d)\n", ckpt, start, total)
	} else if cfg.Resume {
		fmt.Fprintf(progress, "resume: no checkpoint in %s yet: starting from step 0\n", cfg.Out)
	}
	tensors := make([]*torch.Tensor, len(params))
	for i, p := range params {
		tensors[i] = p.T
	}
	if err := d.connect(tensors); err != nil {
		return nil, err
	}
	log, err := d.openLog(cfg.Out, start)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	if dev.CUDA {
		torch.CUDAResetPeak(dev.Index)
	}

	meta := adapterMeta(recs[0], tok, zeroID, oneID, cfg.MaxLen)
	res := &Result{Out: cfg.Out, Adapter: filepath.Join(cfg.Out, DirAdapter), ResumedFrom: start, Rank: d.rank(), World: d.world()}
	res.TrainTruncated, res.EvalTruncated = countCut(train), countCut(evalSet)
	if d.on() {
		res.Backend = d.backend
		fmt.Fprintf(progress, "data parallel: %d ranks over %s; each runs about %d of a batch's %d rows\n",
			d.world(), d.backend, (cfg.BatchSize+d.world()-1)/d.world(), cfg.BatchSize)
	}
	mon, err := newMonitor(cfg, progress, dev, start, total, d.lead()) // bar or log lines; TensorBoard
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := mon.close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	ev := evaluator{model: model, set: evalSet, batch: cfg.BatchSize, zero: zeroID, one: oneID, fullLogits: cfg.FullLogits, d: d}
	evaluate := func(step int) error {
		if len(evalSet) == 0 {
			return nil
		}
		r, err := ev.run()
		if err != nil {
			return hintOOM(fmt.Errorf("evaluate at step %d: %w", step, err), cfg)
		}
		r.Step = step
		res.Eval = r
		sel.observe(r)
		acc, labelLoss := r.Accuracy, r.LabelLoss
		line := LogLine{Step: step, Epoch: float64(step) / float64(stepsPerEpoch), Split: "eval", Loss: r.Loss, LabelLoss: &labelLoss,
			LR: sched.LR(max(step-1, 0)), Accuracy: &acc, Examples: r.Examples, ElapsedS: elapsed0 + time.Since(begin).Seconds()}
		if err := log.add(line); err != nil {
			return err
		}
		return mon.eval(line)
	}
	if start == 0 && cfg.EvalEvery > 0 {
		if err := evaluate(0); err != nil { // the untuned model, for comparison
			return nil, err
		}
	}

	var plan [][]int
	planEpoch := -1
	trainBegin := time.Now()
	tokens, lastLoss := 0, math.NaN()
	prof := newStepProfile(cfg.Profile, dev)
	if prof != nil {
		defer torch.RecordOps(false) // also when a step fails while recording
	}
	last := total // the step training ends at: total, or where early stopping stopped it
	if sel.stop(cfg.EarlyStoppingPatience) {
		last = start // resumed from the checkpoint where early stopping ended the run
	}
	for step := start; step < last; step++ {
		if err := prof.begin(); err != nil {
			return nil, err
		}
		stepBegin := time.Now()
		epoch, first := step/stepsPerEpoch, (step%stepsPerEpoch)*cfg.GradAccum
		if epoch != planEpoch {
			plan, planEpoch = epochBatches(lengths, cfg.BatchSize, cfg.Seed, epoch), epoch
		}
		micro := plan[first:min(first+cfg.GradAccum, len(plan))]

		// Seeding each step makes LoRA dropout depend only on the step, so a resumed run
		// draws the same masks as an uninterrupted one.
		if err := torch.ManualSeed(cfg.Seed + uint64(step) + d.seedOffset()); err != nil {
			return nil, err
		}
		lr := sched.LR(step)
		if err := setLR(opt, cfg, lr); err != nil {
			return nil, err
		}
		if err := opt.ZeroGrad(); err != nil {
			return nil, err
		}
		if err := prof.mark("zero grad, lr"); err != nil {
			return nil, err
		}
		answerTokens, stepTokens := 0, 0
		for _, idx := range micro {
			for _, i := range idx {
				answerTokens += train[i].answerLen()
				stepTokens += len(train[i].ids)
			}
		}
		loss := 0.0
		labels := &labelTally{zero: zeroID, one: oneID}
		for _, idx := range micro {
			if idx = d.shard(idx); len(idx) == 0 {
				continue // more ranks than rows in this batch
			}
			l, err := trainMicroBatch(model, pick(train, idx), answerTokens, cfg.FullLogits, prof, labels)
			if err != nil {
				return nil, hintOOM(fmt.Errorf("step %d: %w", step+1, err), cfg)
			}
			loss += l
		}
		if loss, err = d.reduceGrads(tensors, loss); err != nil { // sum over ranks
			return nil, fmt.Errorf("step %d: %w", step+1, err)
		}
		labelLoss, err := labels.mean(d)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step+1, err)
		}
		if d.on() {
			if err := prof.mark("grad all-reduce"); err != nil {
				return nil, err
			}
		}
		maxNorm := cfg.MaxGradNorm
		if maxNorm == 0 {
			maxNorm = math.Inf(1) // report the norm, clip nothing
		}
		gradNorm, err := torch.ClipGradNorm(tensors, maxNorm)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step+1, err)
		}
		if err := prof.mark("clip grad norm"); err != nil {
			return nil, err
		}
		if err := opt.Step(); err != nil {
			return nil, hintOOM(fmt.Errorf("step %d: %w", step+1, err), cfg)
		}
		if err := prof.mark("optimizer step"); err != nil {
			return nil, err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, fmt.Errorf("step %d: loss is %v (try a lower --lr, now %g)", step+1, loss, cfg.LR)
		}

		done := step + 1
		dt := time.Since(stepBegin).Seconds()
		tokens += stepTokens
		lastLoss = loss
		gn := gradNorm
		line := LogLine{Step: done, Epoch: float64(first+len(micro))/float64(len(plan)) + float64(epoch), Split: "train",
			Loss: loss, LR: lr, GradNorm: &gn, Examples: countRows(micro), Tokens: stepTokens, TokensPerS: float64(stepTokens) / dt,
			ElapsedS: elapsed0 + time.Since(begin).Seconds()}
		line.LabelLoss = &labelLoss
		if err := log.add(line); err != nil {
			return nil, err
		}
		if err := mon.train(line); err != nil {
			return nil, err
		}
		if err := prof.mark("log, progress"); err != nil {
			return nil, err
		}
		prof.end()

		if cfg.EvalEvery > 0 && done%cfg.EvalEvery == 0 && done != total {
			if err := evaluate(done); err != nil {
				return nil, err
			}
		}
		stop := sel.stop(cfg.EarlyStoppingPatience)
		keepBest := cfg.LoadBest && sel.isBest(done) // the best evaluated step always gets a checkpoint
		if (cfg.SaveEvery > 0 && done%cfg.SaveEvery == 0 || keepBest || stop) && done != total && d.lead() {
			st := trainerState{Step: done, Epoch: epoch, Batch: first + len(micro), StepsPerEpoch: stepsPerEpoch,
				TotalSteps: total, Schedule: sched, Seed: cfg.Seed, ElapsedS: elapsed0 + time.Since(begin).Seconds(), Fingerprint: fp,
				Selection: sel}
			if err := saveCheckpoint(cfg, model, opt, meta, st); err != nil {
				return nil, err
			}
		}
		if stop {
			fmt.Fprintf(progress, "early stopping at step %d of %d: %s has not improved for %d evaluations (best %s)\n",
				done, total, sel.Metric, sel.Since, sel)
			last = done
			break
		}
	}
	mon.finishSteps()
	trainSeconds := time.Since(trainBegin).Seconds()
	res.Profile, res.ProfileOps = prof.summary(), prof.ops()
	if last == total {
		if err := evaluate(total); err != nil {
			return nil, err
		}
	}
	if cfg.LoadBest && sel.Best != nil {
		res.Best = sel.Best
		meta.Best = sel.Best
		if sel.Best.Step != last {
			res.Eval = sel.Eval
			// The written adapter is the best evaluated checkpoint's, byte for byte (rank 0 wrote and writes it).
			if d.lead() {
				if _, err := model.LoadAdapter(filepath.Join(checkpointDir(cfg.Out, sel.Best.Step), ckptAdapterDir)); err != nil {
					return nil, fmt.Errorf("load the best checkpoint (step %d): %w", sel.Best.Step, err)
				}
			}
		}
		if cfg.EvalEvery > 0 {
			fmt.Fprintf(progress, "best checkpoint: %s; the adapter is that step's\n", sel)
		}
	}

	// Outputs (rank 0's alone).
	if d.lead() {
		if err := model.SaveAdapter(filepath.Join(cfg.Out, DirAdapter), meta); err != nil {
			return nil, err
		}
		if err := writeLossPlot(cfg.Out, log.lines); err != nil {
			return nil, err
		}
	}
	res.Steps, res.FinalLoss, res.TrainSeconds, res.Log, res.Validation = last, lastLoss, trainSeconds, log.lines, validation
	if last > start && trainSeconds > 0 {
		res.StepsPerSecond = float64(last-start) / trainSeconds
		res.TokensPerSecond = float64(tokens) / trainSeconds
	}
	if math.IsNaN(lastLoss) { // resumed from the last checkpoint: nothing left to run
		res.FinalLoss = lastTrainLoss(log.lines)
	}
	res.PeakMemory = peakMemory(dev)
	if !d.lead() {
		return res, nil
	}
	if err := writeRunJSON(cfg, res, model, trainPath, evalPath, hashes, time.Since(begin).Seconds(), len(train), len(evalSet)); err != nil {
		return nil, err
	}
	return res, nil
}

// trainMicroBatch runs forward and backward on one batch and returns its share
// of the step's loss: the summed cross-entropy of its answer tokens divided by
// the answer tokens of the whole step, so accumulated gradients equal those of
// one big batch. labels (nil: none) adds up the batch's label-token loss.
func trainMicroBatch(model *llm.Model, exs []example, stepAnswerTokens int, fullLogits bool, prof *stepProfile, labels *labelTally) (float64, error) {
	s := torch.NewScope()
	defer s.Close()
	ce, err := answerLoss(s, model, exs, fullLogits, labels)
	if err != nil {
		return 0, err
	}
	loss := s.MulScalar(ce, 1/float64(stepAnswerTokens))
	if err := s.Err(); err != nil {
		return 0, err
	}
	if err := prof.mark("forward, loss"); err != nil {
		return 0, err
	}
	s.Backward(loss)
	if err := s.Err(); err != nil {
		return 0, err
	}
	v, err := loss.Item()
	if err != nil {
		return 0, err
	}
	return v, prof.mark("backward")
}

// answerLogits runs the model and returns the logits that predict each answer
// token, [N, V], with the answer tokens as targets [N]. Position p predicts
// token p+1, so the answer ids[k:] are predicted at positions k-1 .. len-2.
// Only those positions leave the last layer and go through the lm_head
// (Model.HiddenAt) unless fullLogits asks for all T×V.
func answerLogits(s *torch.Scope, model *llm.Model, exs []example, train, fullLogits bool) (logits, targets *torch.Tensor, err error) {
	batch, rows, pos, tgt := answerPositions(exs)
	if fullLogits {
		hidden, err := model.Hidden(s, batch, train)
		if err != nil {
			return nil, nil, err
		}
		logits, err = allLogitsAt(s, model, hidden, rows, pos)
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
		if err := labels.addLogits(s, model, logits, exs); err != nil {
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
	if err := labels.add(s, model, h, exs); err != nil {
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
		for p := e.prompt - 1; p < len(e.ids)-1; p++ {
			rows, pos, tgt = append(rows, r), append(pos, p), append(tgt, int64(e.ids[p+1]))
		}
	}
	return batch, rows, pos, tgt
}

// allLogitsAt computes the logits of every position of the batch ([B·T, V], as
// a general-purpose trainer does) and then picks the answer rows: the
// comparison point for answer-only logits.
func allLogitsAt(s *torch.Scope, model *llm.Model, hidden *torch.Tensor, rows, pos []int) (*torch.Tensor, error) {
	B, T := int(hidden.Size(0)), int(hidden.Size(1))
	allRows, allPos := make([]int, 0, B*T), make([]int, 0, B*T)
	for r := 0; r < B; r++ {
		for p := 0; p < T; p++ {
			allRows, allPos = append(allRows, r), append(allPos, p)
		}
	}
	all, err := model.LogitsAt(s, hidden, allRows, allPos)
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
// by comparing the logits of the "0" and "1" tokens at the answer's first position.
type evaluator struct {
	model      *llm.Model
	set        []example
	batch      int
	zero, one  int
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
				labels := s.IndexSelect(logits, 1, s.ToDevice(s.FromInt64([]int64{int64(ev.zero), int64(ev.one)}, 2), ev.model.Device()))
				pair, err := s.ToDType(labels, torch.Float32).Float32s()
				if err != nil {
					return err
				}
				row := 0 // the first answer row of each example is its label position
				for _, e := range exs {
					pred := 0
					if pair[2*row+1] > pair[2*row] {
						pred = 1
					}
					if pred == e.label {
						correct++
					}
					labelLossSum += labelCrossEntropy(float64(pair[2*row]), float64(pair[2*row+1]), e.label)
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
