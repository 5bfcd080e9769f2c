// The checks that need more than the config alone (the data, an installed package, a
// checkpoint), made before anything is written; shared by the CLI and train().
import { createRequire } from 'node:module';
import type { Dataset } from '../data/idx.js';
import { rowsOf } from './plan.js';
import { describeLayoutDifference } from '../checkpoint/checkpoint.js';
import type { LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { ConfigError, configJson, defaultConfig, optimizerOf } from '../settings/config.js';
import { stateNames } from '../optim/optimizers.js';
import { SETTINGS } from '../settings/settings.js';
import { maskToString } from '../model/labels.js';
import type { RunModel } from '../paths/path.js';
import { topologyDifference } from '../task/topology.js';
import type { Config } from '../settings/config.js';

/** What can only be checked once the data is known. */
export function checkAgainstData(config: Config, data: Dataset, numClasses = config.model.numClasses): void {
  const { numRows, numTrain } = rowsOf(config, data);
  if (numTrain < config.batchSize) {
    throw new ConfigError(`--batch-size: ${config.batchSize} is larger than the ${numTrain} training rows`);
  }
  if (config.validationSplit > 0 && numTrain === numRows) throw new ConfigError(`--validation-split ${config.validationSplit}: holds out no row of the ${numRows} training rows`);
  const { mask } = config;
  const outside = mask.kind === 'classes' ? mask.classes.find((c) => c >= numClasses) : undefined;
  if (outside !== undefined) throw new ConfigError(`--mask: class ${outside} is outside the model's classes 0..${numClasses - 1}`);
}

/**
 * Whether the user set `key`: its value is neither the default nor, when resuming, the
 * checkpoint's own (`base`).
 */
export function isSet(config: Config, key: keyof Config, base?: Record<string, unknown>): boolean {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const now = configJson(config)[key];
  return !same(now, configJson(defaultConfig())[key]) && !(base && key in base && same(now, base[key]));
}

/** A setting that would change nothing is refused, naming it: the user meant something by it. */
export function checkEffects(config: Config, data: Dataset, base?: Record<string, unknown>): void {
  const set = (key: keyof Config) => isSet(config, key, base);
  const given = data.train.labelRows;
  if (given && set('mask')) {
    throw new ConfigError(`--mask ${maskToString(config.mask)}: has no effect: the labels of ${data.dir ?? 'the data'} are combined rows of ${given.width} columns, used as they are`);
  }
  if (!config.deterministic && set('microShardRows')) throw new ConfigError(`--micro-shard-rows ${config.microShardRows}: has no effect without --deterministic`);
  if (!config.checkpointDir && !config.resume) {
    if (set('checkpointEvery')) throw new ConfigError(`--checkpoint-every ${config.checkpointEvery}: has no effect without --checkpoint-dir`);
    if (set('keep')) throw new ConfigError(`--keep ${config.keep}: has no effect without --checkpoint-dir`);
  }
  if (config.validationSplit > 0 && config.validation !== 'none') throw new ConfigError(`--validation ${config.validation} and --validation-split ${config.validationSplit}: choose one validation set`);
  if (data.validationRows !== undefined && (config.validationSplit > 0 || config.validation !== 'none')) {
    throw new ConfigError(`validationData and ${config.validationSplit > 0 ? `validationSplit ${config.validationSplit}` : `validation '${config.validation}'`}: choose one validation set`);
  }
  if (config.earlyStoppingPatience === null) {
    if (set('earlyStoppingMonitor')) throw new ConfigError(`--early-stopping-monitor ${config.earlyStoppingMonitor}: has no effect without --early-stopping-patience`);
    if (set('minDelta')) throw new ConfigError(`--min-delta ${config.minDelta}: has no effect without --early-stopping-patience`);
    if (set('restoreBestWeights')) throw new ConfigError('--restore-best-weights: has no effect without --early-stopping-patience');
  }
  if (config.evaluate === 'none' && set('evalLimit')) throw new ConfigError(`--eval-limit ${config.evalLimit}: has no effect with --eval none`);
  checkOptimizerEffects(config, set);
  if (config.resume && set('initialAccumulatorValue')) throw new ConfigError(`--initial-accumulator-value ${config.initialAccumulatorValue}: has no effect with --resume (the accumulator is the checkpoint's)`);
  if (config.resume && set('initFrom')) throw new ConfigError(`--init-from ${config.initFrom}: has no effect with --resume (a resumed run goes on from its checkpoint's weights)`);
}

/** Which optimisers and schedules read each of their settings: one set for another is refused, naming both. */
const OPTIMIZER_KEYS: Partial<Record<keyof Config, readonly string[]>> = {
  beta1: ['adam', 'adamax', 'adamw'], beta2: ['adam', 'adamax', 'adamw'], eps: ['adam', 'adamax', 'adamw', 'rmsprop'],
  momentum: ['momentum', 'rmsprop'], useNesterov: ['momentum'], decay: ['rmsprop'], centered: ['rmsprop'],
  initialAccumulatorValue: ['adagrad'], weightDecay: ['adamw'],
};
const SCHEDULE_KEYS: Partial<Record<keyof Config, readonly string[]>> = {
  decaySteps: ['exponential', 'cosine'], decayRate: ['exponential'], staircase: ['exponential'],
  boundaries: ['piecewise'], lrValues: ['piecewise'], alpha: ['cosine'],
};

function checkOptimizerEffects(config: Config, set: (key: keyof Config) => boolean): void {
  const flagOf = (key: keyof Config) => `--${SETTINGS[key as keyof typeof SETTINGS].flag?.name ?? key}`;
  for (const [key, users] of Object.entries(OPTIMIZER_KEYS) as [keyof Config, readonly string[]][]) {
    if (set(key) && !users.includes(config.optimizer)) throw new ConfigError(`${flagOf(key)}: has no effect with --optimizer ${config.optimizer} (it is ${users.join(', ')}'s)`);
  }
  for (const [key, users] of Object.entries(SCHEDULE_KEYS) as [keyof Config, readonly string[]][]) {
    if (set(key) && !users.includes(config.lrSchedule)) throw new ConfigError(`${flagOf(key)}: has no effect with --lr-schedule ${config.lrSchedule} (it is ${users.join(', ')}'s)`);
  }
  if (config.lrSchedule === 'piecewise' && set('lr')) throw new ConfigError(`--lr ${config.lr}: has no effect with --lr-schedule piecewise (its rates are --lr-values)`);
}

/** Early stopping watches a figure every epoch has: the loss, or a validation figure when there is validation. */
export function checkEarlyStopping(config: Config, run: RunModel, data: Dataset): void {
  if (config.earlyStoppingPatience === null) return;
  const watched = config.earlyStoppingMonitor;
  const validated = config.validationSplit > 0 || config.validation !== 'none' || data.validationRows !== undefined;
  const figures = ['loss', ...(validated ? ['val_loss', ...run.task.metrics.map((m) => `val_${m.name}`)] : [])];
  if (!figures.includes(watched)) {
    const why = watched.startsWith('val_') && !validated ? 'there is no validation (--validation-split, --validation test, or train()\'s validationData)' : `every epoch reports ${figures.join(', ')}`;
    throw new ConfigError(`--early-stopping-monitor ${watched}: ${why}`);
  }
}

/** The native backend is the user's own install, never ours (docs/internals.md, engine decision 1). */
export function checkBackend(config: Config): void {
  if (config.backend !== 'tensorflow') return;
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
  } catch {
    throw new ConfigError('--backend tensorflow: @tensorflow/tfjs-node is not installed; install it yourself (`npm install @tensorflow/tfjs-node`, ' +
      'whose install downloads libtensorflow) and know that it is known to fail when loaded in more than one worker thread (tensorflow/tfjs#8388); --backend wasm needs nothing');
  }
}

/**
 * A checkpoint can only continue a run of the same model, batch and data order: a
 * different shape is refused with the difference named; so are a different batch
 * size, row limit or seed, which would move the position in the epoch.
 */
export function checkResume(config: Config, ckpt: LoadedCheckpoint, run: RunModel, what = `--resume ${config.resume}`): void {
  // A checkpoint of the built-in task does not continue a task module's run, nor the other way round.
  const [was, now] = [ckpt.config.task ?? null, config.task];
  if ((was === null) !== (now === null)) {
    throw new ConfigError(`${what}: ${ckpt.checkpoint} was trained by ${was === null ? 'the built-in task' : `the task module ${was}`}, this run is ${now === null ? 'the built-in task' : `the task module ${now}`}`);
  }
  // A task model: the topology first (it names the layer and the setting that differ).
  const topo = run.topology && ckpt.topology ? topologyDifference(ckpt.topology, run.topology, ckpt.checkpoint, 'this run') : null;
  const diff = topo ?? describeLayoutDifference(ckpt.layout, run.layout);
  if (diff) throw new ConfigError(`${what}: the model differs from ${ckpt.checkpoint}: ${diff}`);
  const defaults = defaultConfig();
  // The optimiser's state vectors are the checkpoint's: another optimiser cannot go on from them.
  for (const key of ['batchSize', 'limit', 'seed', 'validationSplit', 'optimizer', 'centered'] as const) {
    // A key an older checkpoint does not have was its default.
    const was = ckpt.config[key] === undefined ? defaults[key] : ckpt.config[key];
    if (was !== config[key]) {
      throw new ConfigError(`${what}: ${key} is ${JSON.stringify(config[key])}, ${ckpt.checkpoint} was trained with ${JSON.stringify(was)}`);
    }
  }
  const vectors = stateNames(optimizerOf(config)).length;
  if (ckpt.optimizer.state.length !== vectors) {
    throw new ConfigError(`${what}: ${ckpt.checkpoint} holds ${ckpt.optimizer.state.length} optimiser state vectors, ${config.optimizer} keeps ${vectors}`);
  }
}
