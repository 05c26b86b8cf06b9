package llamafactory

import (
	"fmt"
	"math"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sentitune/sentitune/finetune"
)

// key is what one LLaMA-Factory YAML key does in sentitune.
type key struct {
	apply func(c *Config, v *yaml.Node) error
}

// to decodes the value into a sentitune field.
func to[T any](field func(*Config) *T) key {
	return key{func(c *Config, v *yaml.Node) error { return v.Decode(field(c)) }}
}

// ignored keys have no sentitune meaning; the note says why.
func ignored(name, why string) key {
	return key{func(c *Config, v *yaml.Node) error {
		c.Notes = append(c.Notes, fmt.Sprintf("%s: %s: ignored: %s", name, v.Value, why))
		return nil
	}}
}

// unsupported keys ask for something sentitune does not do; the run goes on without it and the note says what it does instead.
func unsupported(name, instead string) key {
	return key{func(c *Config, v *yaml.Node) error {
		c.Notes = append(c.Notes, fmt.Sprintf("%s: %s: unsupported: %s", name, v.Value, instead))
		return nil
	}}
}

// only accepts the listed values (the ones sentitune does); any other is an error.
func only(values ...string) key {
	return key{func(c *Config, v *yaml.Node) error {
		for _, ok := range values {
			if v.Value == ok {
				return nil
			}
		}
		return fmt.Errorf("%q: sentitune does %s only", v.Value, strings.Join(values, ", "))
	}}
}

// list reads a comma string or a YAML list (dataset: a,b; lora_target: [q_proj, v_proj]).
func list(field func(*Config) *[]string) key {
	return key{func(c *Config, v *yaml.Node) error {
		var items []string
		if v.Kind == yaml.SequenceNode {
			if err := v.Decode(&items); err != nil {
				return err
			}
		} else {
			items = strings.Split(v.Value, ",")
		}
		out := (*field(c))[:0]
		for _, it := range items {
			if it = strings.TrimSpace(it); it != "" {
				out = append(out, it)
			}
		}
		*field(c) = out
		return nil
	}}
}

func finetuneList(field func(*finetune.Config) *finetune.List) key {
	return list(func(c *Config) *[]string { return (*[]string)(field(&c.Finetune)) })
}

// flag sets a boolean option when the YAML value is true.
func flag(set func(c *Config, on bool)) key {
	return key{func(c *Config, v *yaml.Node) error {
		var on bool
		if err := v.Decode(&on); err != nil {
			return err
		}
		set(c, on)
		return nil
	}}
}

// keys maps every LLaMA-Factory key this reader knows (model, data, finetuning, training and
// generation arguments of its sft stage) to what it does here.
var keys = map[string]key{
	// model
	"model_name_or_path":           to(func(c *Config) *string { return &c.Finetune.Model }),
	"adapter_name_or_path":         unsupported("adapter_name_or_path", "training does not continue an existing adapter; use finetune --resume on a sentitune run folder"),
	"template":                     to(func(c *Config) *string { return &c.templateName }),
	"trust_remote_code":            ignored("trust_remote_code", "sentitune runs no model code; the architecture comes from config.json"),
	"cache_dir":                    ignored("cache_dir", "models are found in the Hugging Face or ModelScope cache (HF_HUB_CACHE, MODELSCOPE_CACHE)"),
	"flash_attn":                   ignored("flash_attn", "the engine picks its own attention kernel"),
	"enable_liger_kernel":          ignored("enable_liger_kernel", "the loss is already fused on the answer positions"),
	"use_unsloth":                  ignored("use_unsloth", "no Unsloth kernels"),
	"enable_thinking":              unsupported("enable_thinking", "prompts are rendered with enable_thinking=False (Qwen3's empty think block), the answer is the label"),
	"quantization_bit":             to(func(c *Config) *int { return &c.Finetune.QuantizationBit }),
	"quantization_method":          ignored("quantization_method", "--quantization-bit quantizes with sentitune's own NF4 (bitsandbytes' definition) or 8-bit per-row absmax"),
	"double_quantization":          ignored("double_quantization", "4-bit always double-quantizes its absmax, as LLaMA-Factory's default"),
	"rope_scaling":                 ignored("rope_scaling", "RoPE scaling is read from the model's config.json"),
	"infer_backend":                ignored("infer_backend", "predict scores the label tokens with the engine itself"),
	"export_dir":                   unsupported("export_dir", "merging is its own step: sentitune merge"),
	"model_revision":               key{applyRevision},
	"hf_hub_token":                 ignored("hf_hub_token", "set HF_TOKEN (sentitune download reads it)"),
	"ms_hub_token":                 ignored("ms_hub_token", "set MODELSCOPE_API_TOKEN"),
	"use_fast_tokenizer":           ignored("use_fast_tokenizer", "sentitune's tokenizer reads tokenizer.json, as the fast one does"),
	"low_cpu_mem_usage":            ignored("low_cpu_mem_usage", "weights are memory-mapped from safetensors"),
	"model_max_length":             ignored("model_max_length", "cutoff_len sets the length"),
	"print_param_status":           ignored("print_param_status", "finetune prints the trainable parameter count"),
	"upcast_layernorm":             ignored("upcast_layernorm", "norms run in the compute dtype"),
	"use_cache":                    ignored("use_cache", "training keeps no KV cache"),
	"use_reentrant_gc":             ignored("use_reentrant_gc", "--gradient-checkpointing recomputes each layer from Go"),
	"quantization_type":            only("nf4"),
	"quantization_device_map":      ignored("quantization_device_map", "the quantized base goes to --device"),
	"image_max_pixels":             ignored("image_max_pixels", "text models only"),
	"image_min_pixels":             ignored("image_min_pixels", "text models only"),
	"video_max_pixels":             ignored("video_max_pixels", "text models only"),
	"video_min_pixels":             ignored("video_min_pixels", "text models only"),
	"video_fps":                    ignored("video_fps", "text models only"),
	"video_maxlen":                 ignored("video_maxlen", "text models only"),
	"freeze_vision_tower":          ignored("freeze_vision_tower", "text models only"),
	"freeze_multi_modal_projector": ignored("freeze_multi_modal_projector", "text models only"),
	"train_from_scratch":           unsupported("train_from_scratch", "LoRA on the model's weights"),
	"resize_vocab":                 unsupported("resize_vocab", "the vocabulary stays the model's (the answers are tokens it has)"),
	"new_special_tokens":           unsupported("new_special_tokens", "the vocabulary stays the model's"),
	"shift_attn":                   unsupported("shift_attn", "plain attention"),
	"mixture_of_depths":            unsupported("mixture_of_depths", "plain decoder layers"),
	"export_size":                  ignored("export_size", "sentitune merge writes the base's sharding"),
	"export_device":                ignored("export_device", "sentitune merge runs on the CPU"),
	"export_legacy_format":         ignored("export_legacy_format", "sentitune merge writes safetensors"),
	"export_hub_model_id":          ignored("export_hub_model_id", "nothing is uploaded"),
	// finetuning method
	"stage":                               only("sft"),
	"do_train":                            only("true"),
	"finetuning_type":                     only("lora"),
	"lora_rank":                           to(func(c *Config) *int { return &c.Finetune.LoRAR }),
	"lora_alpha":                          key{func(c *Config, v *yaml.Node) error { c.alphaSet = true; return v.Decode(&c.Finetune.LoRAAlpha) }},
	"lora_dropout":                        to(func(c *Config) *float64 { return &c.Finetune.LoRADropout }),
	"lora_target":                         finetuneList(func(f *finetune.Config) *finetune.List { return &f.LoRATarget }),
	"additional_target":                   finetuneList(func(f *finetune.Config) *finetune.List { return &f.ModulesToSave }),
	"use_rslora":                          to(func(c *Config) *bool { return &c.Finetune.UseRSLoRA }),
	"loraplus_lr_ratio":                   to(func(c *Config) *float64 { return &c.Finetune.LoRAPlusLRRatio }),
	"use_dora":                            unsupported("use_dora", "plain LoRA (no DoRA)"),
	"pissa_init":                          unsupported("pissa_init", "LoRA's own initialisation (A Kaiming-uniform, B zero)"),
	"create_new_adapter":                  ignored("create_new_adapter", "every run writes a new adapter"),
	"deepspeed":                           ignored("deepspeed", "data parallel training is finetune --nproc N (or torchrun's variables)"),
	"use_galore":                          unsupported("use_galore", "LoRA with AdamW"),
	"use_apollo":                          unsupported("use_apollo", "LoRA with AdamW"),
	"use_badam":                           unsupported("use_badam", "LoRA with AdamW"),
	"use_adam_mini":                       unsupported("use_adam_mini", "LoRA with AdamW"),
	"use_muon":                            unsupported("use_muon", "LoRA with AdamW"),
	"use_llama_pro":                       unsupported("use_llama_pro", "LoRA on the model's own layers"),
	"early_stopping_steps":                to(func(c *Config) *int { return &c.Finetune.EarlyStoppingPatience }),
	"compute_accuracy":                    ignored("compute_accuracy", "every evaluation reports the answer's accuracy"),
	"disable_shuffling":                   unsupported("disable_shuffling", "batches are shuffled each epoch with --seed"),
	"include_effective_tokens_per_second": ignored("include_effective_tokens_per_second", "train_log.jsonl and the progress lines give tokens/s"),
	"use_swanlab":                         unsupported("use_swanlab", "metrics go to train_log.jsonl (and tensorboard with report_to: tensorboard)"),
	"disable_gradient_checkpointing": flag(func(c *Config, on bool) {
		if on {
			c.Finetune.GradientCheckpointing = "off"
		}
	}),
	// dataset
	"dataset":                   list(func(c *Config) *[]string { return &c.Datasets }),
	"eval_dataset":              list(func(c *Config) *[]string { return &c.Eval }),
	"dataset_dir":               to(func(c *Config) *string { return &c.DatasetDir }),
	"cutoff_len":                to(func(c *Config) *int { return &c.Finetune.MaxLen }),
	"max_samples":               to(func(c *Config) *int { return &c.MaxSamples }),
	"val_size":                  key{applyValSize},
	"overwrite_cache":           ignored("overwrite_cache", "nothing is cached between runs"),
	"preprocessing_num_workers": ignored("preprocessing_num_workers", "tokenizing is done in-process"),
	"dataloader_num_workers":    ignored("dataloader_num_workers", "batches are built in-process"),
	"packing":                   unsupported("packing", "one review per sequence (the loss is on each review's answer)"),
	"neat_packing":              unsupported("neat_packing", "one review per sequence"),
	"train_on_prompt":           unsupported("train_on_prompt", "the loss is on the answer tokens only"),
	"mask_history":              ignored("mask_history", "single-turn records"),
	"streaming":                 ignored("streaming", "the file is read whole"),
	"tokenized_path":            ignored("tokenized_path", "records are tokenized each run"),
	"default_system":            unsupported("default_system", "give the system prompt per record (Alpaca's system field) or prep --system"),
	"mix_strategy":              only("concat"),
	"interleave_probs":          unsupported("interleave_probs", "the datasets are concatenated in order (mix_strategy: concat)"),
	"media_dir":                 ignored("media_dir", "text only"),
	"buffer_size":               ignored("buffer_size", "the file is read whole"),
	"preprocessing_batch_size":  ignored("preprocessing_batch_size", "tokenizing is done in-process"),
	"eval_num_beams":            ignored("eval_num_beams", "nothing is generated"),
	"ignore_pad_token_for_loss": ignored("ignore_pad_token_for_loss", "the loss is on the answer tokens only"),
	"eval_on_each_dataset":      unsupported("eval_on_each_dataset", "one evaluation on the eval datasets joined"),
	"tool_format":               ignored("tool_format", "no tool calls"),
	// training arguments
	"output_dir":                    to(func(c *Config) *string { return &c.Finetune.Out }),
	"overwrite_output_dir":          to(func(c *Config) *bool { return &c.Finetune.Overwrite }),
	"resume_from_checkpoint":        to(func(c *Config) *string { return &c.Finetune.ResumeFrom }),
	"learning_rate":                 to(func(c *Config) *float64 { return &c.Finetune.LR }),
	"num_train_epochs":              to(func(c *Config) *float64 { return &c.Finetune.Epochs }),
	"max_steps":                     to(func(c *Config) *int { return &c.Finetune.MaxSteps }),
	"per_device_train_batch_size":   to(func(c *Config) *int { return &c.PerDevice }),
	"per_device_eval_batch_size":    to(func(c *Config) *int { return &c.EvalBatch }),
	"gradient_accumulation_steps":   to(func(c *Config) *int { return &c.Finetune.GradAccum }),
	"lr_scheduler_type":             key{applyScheduler},
	"warmup_ratio":                  to(func(c *Config) *float64 { return &c.Finetune.WarmupRatio }),
	"warmup_steps":                  to(func(c *Config) *int { return &c.warmupSteps }),
	"weight_decay":                  to(func(c *Config) *float64 { return &c.Finetune.WeightDecay }),
	"max_grad_norm":                 to(func(c *Config) *float64 { return &c.Finetune.MaxGradNorm }),
	"seed":                          to(func(c *Config) *uint64 { return &c.Finetune.Seed }),
	"bf16":                          flag(func(c *Config, on bool) { c.setDType(on, "bf16") }),
	"pure_bf16":                     flag(func(c *Config, on bool) { c.setDType(on, "bf16") }),
	"fp16":                          key{applyFP16},
	"logging_steps":                 ignored("logging_steps", "every step's loss goes to train_log.jsonl; stderr shows a bar, or a line every --log-every"),
	"plot_loss":                     ignored("plot_loss", "loss.png and loss.svg are always written"),
	"save_steps":                    to(func(c *Config) *int { return &c.Finetune.SaveEvery }),
	"save_strategy":                 only("steps", "no"),
	"save_only_model":               ignored("save_only_model", "checkpoints hold what --resume needs"),
	"save_total_limit":              to(func(c *Config) *int { return &c.Finetune.SaveTotalLimit }),
	"eval_steps":                    to(func(c *Config) *int { return &c.Finetune.EvalEvery }),
	"eval_strategy":                 only("steps", "no"),
	"evaluation_strategy":           only("steps", "no"),
	"load_best_model_at_end":        to(func(c *Config) *bool { return &c.Finetune.LoadBest }),
	"metric_for_best_model":         to(func(c *Config) *string { return &c.Finetune.MetricForBest }),
	"report_to":                     key{applyReportTo},
	"run_name":                      ignored("run_name", "the run is named by its folder"),
	"ddp_timeout":                   to(func(c *Config) *float64 { return &c.Finetune.DistTimeout }),
	"ddp_backend":                   key{applyDDPBackend},
	"ddp_find_unused_parameters":    ignored("ddp_find_unused_parameters", "only the LoRA gradients are all-reduced"),
	"use_cpu":                       flag(func(c *Config, on bool) { c.setDevice(on, "cpu") }),
	"no_cuda":                       flag(func(c *Config, on bool) { c.setDevice(on, "cpu") }),
	"gradient_checkpointing":        flag(func(c *Config, on bool) { c.setCheckpointing(on) }),
	"optim":                         key{applyOptim},
	"adam_beta1":                    adamDefault("adam_beta1", 0.9),
	"adam_beta2":                    adamDefault("adam_beta2", 0.999),
	"adam_epsilon":                  adamDefault("adam_epsilon", 1e-8),
	"lr_scheduler_kwargs":           unsupported("lr_scheduler_kwargs", "the schedules' own shapes (cosine to 0, linear to 0)"),
	"label_smoothing_factor":        nonzero("label_smoothing_factor", "plain cross-entropy on the answer"),
	"neftune_noise_alpha":           nonzero("neftune_noise_alpha", "no embedding noise"),
	"group_by_length":               ignored("group_by_length", "finetune forms its own batches"),
	"tf32":                          ignored("tf32", "libtorch's default matmul precision"),
	"torch_compile":                 ignored("torch_compile", "no compiler; the engine's own kernels"),
	"dataloader_pin_memory":         ignored("dataloader_pin_memory", "batches are built in-process"),
	"dataloader_drop_last":          ignored("dataloader_drop_last", "a short last batch trains"),
	"remove_unused_columns":         ignored("remove_unused_columns", "only the Alpaca fields are read"),
	"logging_dir":                   ignored("logging_dir", "TensorBoard event files go to RUNDIR/runs"),
	"logging_first_step":            ignored("logging_first_step", "every step is logged"),
	"logging_strategy":              ignored("logging_strategy", "every step is logged"),
	"save_safetensors":              ignored("save_safetensors", "adapters are always safetensors"),
	"disable_tqdm":                  ignored("disable_tqdm", "stderr shows a bar on a terminal, else a line every --log-every"),
	"include_tokens_per_second":     ignored("include_tokens_per_second", "train_log.jsonl and the progress lines give tokens/s"),
	"eval_on_start":                 ignored("eval_on_start", "with eval_steps the untuned model is evaluated at step 0"),
	"greater_is_better":             ignored("greater_is_better", "follows metric_for_best_model (loss lower, accuracy higher)"),
	"push_to_hub":                   unsupported("push_to_hub", "nothing is uploaded"),
	"hub_model_id":                  ignored("hub_model_id", "nothing is uploaded"),
	"include_num_input_tokens_seen": ignored("include_num_input_tokens_seen", "train_log.jsonl counts tokens"),
	"do_eval":                       ignored("do_eval", "evaluation follows val_size/eval_dataset and eval_steps"),
	"do_predict":                    unsupported("do_predict", "score a split with sentitune predict or eval (label-token probabilities, no generation)"),
	"predict_with_generate":         unsupported("predict_with_generate", "predict scores the label tokens (predict --generate N generates)"),
	// generation
	"max_new_tokens": ignored("max_new_tokens", "scoring reads the label token's probability; nothing is generated"),
	"temperature":    ignored("temperature", "no sampling"),
	"top_p":          ignored("top_p", "no sampling"),
	"do_sample":      ignored("do_sample", "no sampling"),
}

// applyValSize: LLaMA-Factory's val_size is a share below 1 or a row count.
func applyValSize(c *Config, v *yaml.Node) error {
	var f float64
	if err := v.Decode(&f); err != nil {
		return err
	}
	if f >= 1 {
		if f != math.Trunc(f) {
			return fmt.Errorf("%v: want a share below 1 or a whole number of rows", f)
		}
		c.valRows = int(f) // a share of the dataset, once Files knows its size
		return nil
	}
	c.Finetune.ValRatio = f
	return nil
}

// applyScheduler maps Hugging Face's scheduler names onto sentitune's (which warm up as those do).
func applyScheduler(c *Config, v *yaml.Node) error {
	switch v.Value {
	case "cosine", "linear", "constant":
		c.Finetune.Scheduler = v.Value
	case "constant_with_warmup":
		c.Finetune.Scheduler = "constant"
	default:
		return fmt.Errorf("%q: sentitune has cosine, linear, constant and constant_with_warmup", v.Value)
	}
	return nil
}

func applyFP16(c *Config, v *yaml.Node) error {
	var on bool
	if err := v.Decode(&on); err != nil {
		return err
	}
	if on {
		c.Finetune.DType = "bf16"
		c.Notes = append(c.Notes, "fp16: true: unsupported: trains in bf16 (same memory, no loss scaling)")
	}
	return nil
}

func applyReportTo(c *Config, v *yaml.Node) error {
	var to []string
	if err := list(func(*Config) *[]string { return &to }).apply(c, v); err != nil {
		return err
	}
	var keep finetune.List
	for _, t := range to {
		switch t {
		case "none", "tensorboard":
			keep = append(keep, t)
		default:
			c.Notes = append(c.Notes, "report_to: "+t+": unsupported: metrics go to train_log.jsonl (and tensorboard with report_to: tensorboard)")
		}
	}
	c.Finetune.ReportTo = keep
	return nil
}

func (c *Config) setDType(on bool, dtype string) {
	if on {
		c.Finetune.DType = dtype
	}
}

// applyRevision pins the model to a revision: sentitune's --model ORG/NAME@REV.
func applyRevision(c *Config, v *yaml.Node) error {
	if v.Value != "" && v.Value != "main" {
		c.revision = v.Value
	}
	return nil
}

func applyDDPBackend(c *Config, v *yaml.Node) error {
	switch v.Value {
	case "nccl", "gloo":
		c.Finetune.DistBackend = v.Value
		return nil
	}
	return fmt.Errorf("%q: sentitune has nccl and gloo", v.Value)
}

// applyOptim accepts Hugging Face's AdamW names (sentitune's optimizer); others train with AdamW, said.
func applyOptim(c *Config, v *yaml.Node) error {
	switch v.Value {
	case "adamw_torch", "adamw_torch_fused", "adamw_hf":
	default:
		c.Notes = append(c.Notes, fmt.Sprintf("optim: %s: unsupported: trains with AdamW", v.Value))
	}
	return nil
}

// adamDefault accepts AdamW's own constant (sentitune's); another value is said, not used.
func adamDefault(name string, def float64) key {
	return key{func(c *Config, v *yaml.Node) error {
		var f float64
		if err := v.Decode(&f); err != nil {
			return err
		}
		if f != def {
			c.Notes = append(c.Notes, fmt.Sprintf("%s: %s: unsupported: sentitune's AdamW uses %g", name, v.Value, def))
		}
		return nil
	}}
}

// nonzero accepts 0 (off); another value asks for something sentitune does not do, said.
func nonzero(name, instead string) key {
	return key{func(c *Config, v *yaml.Node) error {
		var f float64
		if err := v.Decode(&f); err != nil {
			return err
		}
		if f != 0 {
			c.Notes = append(c.Notes, fmt.Sprintf("%s: %s: unsupported: %s", name, v.Value, instead))
		}
		return nil
	}}
}

func (c *Config) setDevice(on bool, device string) {
	if on {
		c.Finetune.Device = device
	}
}

// setCheckpointing: Hugging Face's gradient_checkpointing: true turns it on; false leaves
// LLaMA-Factory's own default (on, unless disable_gradient_checkpointing).
func (c *Config) setCheckpointing(on bool) {
	if on {
		c.Finetune.GradientCheckpointing = "on"
	}
}
