// Everything a run checks before it writes anything, for the CLI and train() alike:
// the settings (over a resumed checkpoint's), every output probed, the checkpoint to
// resume from, the data, the backend. Throws ConfigError, DataError, CheckpointError or
// OutputError with a one-line message; on success nothing has been written.
import { builtinMnistDir, loadDataset } from '../data/idx.js';
import type { Dataset } from '../data/idx.js';
import { withValidationData } from '../data/arrays.js';
import type { ArraySplit } from '../data/arrays.js';
import { hold } from '../engine/faults.js';
import { listCheckpoints, readLatestCheckpoint } from '../checkpoint/checkpoint.js';
import { readInitWeights } from '../checkpoint/init-from.js';
import type { LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { checkAgainstData, checkBackend, checkEarlyStopping, checkEffects, checkResume } from './checks.js';
import { checkAcrossKeys, ConfigError, resolveSettings } from '../settings/config.js';
import { OWN_RUN_KEYS } from '../settings/settings.js';
import type { Config, ConfigBase } from '../settings/config.js';
import { probeDir, probeFile } from '../files/outputs.js';
import { taskOf } from './model-plan.js';
import { planPath } from '../paths/registry.js';
import { planRun } from './plan.js';
import type { RunLimits, RunPlan } from './plan.js';

export interface Prepared {
  /** Every setting resolved, the model built and checked: what the run reads. */
  plan: RunPlan;
  data: Dataset;
  /** Checkpoints a resume skipped, each with its one-line problem. */
  invalid: { checkpoint: string; problem: string }[];
}

/**
 * `resolve` applies the user's settings over the defaults, or over `base` (a
 * checkpoint's config) when resuming; `data` is a dataset given as arrays (else the
 * config's directory, else MNIST). `onInvalid` hears of each skipped checkpoint at once.
 * `limits` cut the run short (benchmarks, tests). `validationData` (train()'s) is
 * validated after every epoch.
 */
export async function prepareRun(
  resolve: (base?: ConfigBase, crossChecks?: boolean) => Config, data: ((numClasses: number) => Dataset) | undefined,
  onInvalid: (checkpoint: string, problem: string) => void = () => undefined, limits: RunLimits = {}, validationData?: ArraySplit,
): Promise<Prepared> {
  // A first look without the checks across keys: a resumed run's flags (--threads 3) are
  // checked over the checkpoint's settings (its --workers 4), not over the defaults.
  let config = resolve(undefined, false);
  if (!config.resume) checkAcrossKeys(config);
  // Every output is created, written and fsynced once, then removed again, before
  // anything is loaded: a path that cannot be written costs no time and leaves nothing.
  if (config.logFile) probeFile('--log-file', config.logFile, 'append');
  if (config.checkpointDir) probeDir('--checkpoint-dir', config.checkpointDir);
  let resumeFrom: LoadedCheckpoint | undefined;
  const invalid: Prepared['invalid'] = [];
  if (config.resume) {
    // The checkpoint's own config is the base; a --config file and flags still win.
    resumeFrom = readLatestCheckpoint(config.resume, (checkpoint, problem) => {
      invalid.push({ checkpoint, problem });
      onInvalid(checkpoint, problem);
    });
    config = resolve({ name: `${config.resume}/${resumeFrom.checkpoint}`, config: experimentOf(resumeFrom) });
    if (!config.checkpointDir) probeDir('--resume', config.resume!);
  }
  if (!resumeFrom && config.checkpointDir && listCheckpoints(config.checkpointDir).length > 0) {
    throw new ConfigError(`--checkpoint-dir ${config.checkpointDir}: already holds checkpoints; continue with --resume ${config.checkpointDir} or choose an empty directory`);
  }
  hold('loading');
  const { dataset, model } = await loadModel(config, data, resumeFrom?.config, validationData);
  checkEarlyStopping(config, model, dataset);
  if (resumeFrom) checkResume(config, resumeFrom, model);
  // A fresh run's first weights from a saved model (a resumed one's are the checkpoint's).
  const initFrom = config.initFrom && !resumeFrom ? readInitWeights(config.initFrom, model.layout) : null;
  return { plan: planRun(config, dataset, model, resumeFrom ?? null, limits, initFrom), data: dataset, invalid };
}

/**
 * A checkpoint's settings that are its experiment: where the earlier run wrote to and
 * what it printed are not (a checkpoint copied elsewhere goes on writing next to itself,
 * not to the old path; the log level, format and progress are this command's), nor is
 * the thread count (it changes no weight): the settings table marks them ownRun.
 */
const experimentOf = (ckpt: LoadedCheckpoint) => Object.fromEntries(Object.entries(ckpt.config).filter(([key]) => !OWN_RUN_KEYS.includes(key)));

/**
 * The plan that evaluates checkpoint `ckpt` (of `dir`) as the run that wrote it would
 * have at its end: its settings (with `settings` over them: another data directory, mask
 * or --eval-limit), its task, data and model, checked against its weights; of `splits`.
 * Nothing is probed or written. For `npm run eval` of a task's checkpoint.
 */
export async function prepareCheckpointEval(ckpt: LoadedCheckpoint, dir: string, settings: Record<string, unknown>, splits: readonly ('train' | 'test')[]): Promise<{ plan: RunPlan; data: Dataset }> {
  const experiment = experimentOf(ckpt);
  const config = resolveSettings(settings, { name: dir, config: experiment });
  const { dataset, model } = await loadModel(config, undefined, experiment);
  checkResume(config, ckpt, model, dir);
  return { plan: planRun(config, dataset, model, ckpt, { evaluate: splits }), data: dataset };
}

/**
 * A task module first (its numClasses bounds the data's labels), then the data (given,
 * else the config's directory, else MNIST; with validation rows given apart), then the
 * model, built once and checked against the data and the loss. `base`: a checkpoint's
 * settings, which count as not set by the user.
 */
async function loadModel(config: Config, data: ((numClasses: number) => Dataset) | undefined, base: Record<string, unknown> | undefined, validationData?: ArraySplit) {
  const module = config.task ? await taskOf(config, 0) : null;
  const numClasses = module?.numClasses ?? config.model.numClasses;
  const loaded = data ? data(numClasses) : loadDataset(config.data ?? builtinMnistDir(), numClasses);
  const dataset = validationData ? withValidationData(loaded, validationData, numClasses, config.limit) : loaded;
  checkAgainstData(config, dataset, numClasses);
  checkEffects(config, dataset, base);
  checkBackend(config);
  const model = await planPath(config, dataset, module ?? await taskOf(config, dataset.train.inputSize));
  return { dataset, model };
}
