// `npm run eval`: a checkpoint's report, logged as the trainer's `eval` event and printed
// as tables. The built-in task's: the seed's report, computed by the checkpoint's
// TensorFlow.js Layers model (independently of the trainer). A task module's: the
// trainer's own evaluation (its mean loss, metrics and class report) of the checkpoint's
// weights, on its workers, as the run that wrote it evaluates at its end.
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../settings/config.js';
import { builtinMnistDir, DataError, loadDataset } from '../data/idx.js';
import type { Split } from '../data/idx.js';
import { fillConditions, maskToString, parseMask } from '../model/labels.js';
import type { MaskRule } from '../model/labels.js';
import { createLogger } from '../run/log.js';
import { probeFile } from '../files/outputs.js';
import { parseFlags } from '../settings/config.js';
import { DEFAULT_PREDICT_BATCH, loadCheckpointModel, openCheckpoint, predictRows } from '../checkpoint/layers-model.js';
import type { OpenedCheckpoint } from '../checkpoint/layers-model.js';
import { evaluateCheckpoint } from '../run/coordinator.js';
import type { SplitName } from '../run/evaluate.js';
import { prepareCheckpointEval } from '../run/prepare.js';
import { rowsOf } from '../run/plan.js';
import { argmaxRows } from '../model/labels.js';
import { intFlag, requiredFlag, runCommand } from './command.js';
import type { FlagValues } from './command.js';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { formatAnyReport } from '../report/eval-report.js';
import { evalReport } from '../metrics/eval.js';
import type { EvalReport, SplitReport } from '../metrics/eval.js';
import { round } from '../metrics/step-stats.js';

export const HELP = `Usage: tfjs-parallel-trainer eval --checkpoint DIR [flags]
       (in this repository: npm run eval -- --checkpoint DIR [flags])

Evaluates a checkpoint's model. The built-in task's checkpoint: loaded through the
TensorFlow.js Layers format, the seed's report (accuracy on the rows whose condition is
1 and 0, odd/even confusion matrices, bincounts and per-class accuracy). A task
module's checkpoint: the trainer's own evaluation on its worker threads, the report
its run prints at the end (the mean loss, the task's metrics, and the class report when
the output has class columns). Tables go to stderr; one NDJSON \`eval\` event (the
trainer's shape) goes to stdout.

Flags:
  --checkpoint DIR   a checkpoint root (the newest valid checkpoint is used) or one
                     ckpt-NNNNNNNNN directory (required)
  --data DIR         IDX or .npy dataset directory (default: the checkpoint's data, else
                     MNIST; a run given arrays by train() has none: name it here)
  --mask RULE        condition column of the default label: odd | even | all |
                     classes=1,3,7 (default: the checkpoint's mask)
  --split S          test | train | both (default test); train rows are those the
                     checkpoint trained on (its --limit, less its --validation-split)
  --eval-limit N     evaluate the first N rows of each split only
  --batch-size N     rows per prediction batch (default ${DEFAULT_PREDICT_BATCH}; the
                     built-in task's checkpoints only)
  --log-file PATH    also append the NDJSON event to PATH
  --help             print this help and exit
`;

const SPLITS = ['test', 'train', 'both'] as const;

async function run(argv: string[]): Promise<void> {
  // 1. Every check before anything is loaded or written: flags, checkpoint, data.
  const flags = parseFlags(argv, { checkpoint: 'string', data: 'string', mask: 'string', split: 'string', 'eval-limit': 'string', 'batch-size': 'string', 'log-file': 'string' });
  const path = requiredFlag(flags, 'checkpoint', 'a checkpoint root or a ckpt-* directory');
  const split = (flags.split ?? 'test') as (typeof SPLITS)[number];
  if (!SPLITS.includes(split)) throw new ConfigError(`--split: expected one of ${SPLITS.join(', ')}, got "${flags.split as string}"`);
  const splits = split === 'both' ? (['train', 'test'] as const) : [split];
  const evalLimit = flags['eval-limit'] === undefined ? null : intFlag(flags, 'eval-limit', 0);
  const logFile = (flags['log-file'] as string | undefined) ?? null;
  if (logFile) probeFile('--log-file', logFile, 'append'); // before any work: a bad path costs nothing
  const opened = openCheckpoint(path, (problem) => process.stderr.write(`warning: skipping invalid checkpoint: ${problem}\n`));
  const { checkpoint: ckpt } = opened;
  if (ckpt.dataFromArrays && flags.data === undefined) {
    throw new ConfigError(`--data: ${ckpt.checkpoint} was trained on arrays given to train(), not on a directory: name the data to evaluate it on`);
  }
  const reports = ckpt.config.task
    ? await taskEval(opened, flags, splits, evalLimit, logFile)
    : await builtinEval(opened, flags, splits, evalLimit, logFile);
  const tables = [
    `checkpoint ${opened.dir} (step ${ckpt.step})${reports.mask ? `, mask ${reports.mask}` : ''}`,
    ...(reports.train ? [formatAnyReport('training', reports.train)] : []),
    ...(reports.test ? [formatAnyReport('test', reports.test)] : []),
  ];
  process.stderr.write(`${tables.join('\n\n')}\n`);
}

type Reports = { train?: EvalReport; test?: EvalReport; mask?: string };

/** The seed's report, by the checkpoint's Layers model. */
async function builtinEval(opened: OpenedCheckpoint, flags: FlagValues, splits: readonly SplitName[], evalLimit: number | null, logFile: string | null): Promise<Reports> {
  const { checkpoint: ckpt } = opened;
  const maskText = (flags.mask as string | undefined) ?? ckpt.config.mask;
  const mask = parseMask(maskText);
  if (typeof mask === 'string') throw new ConfigError(`--mask: expected ${mask}, got "${maskText}"`);
  const batchSize = intFlag(flags, 'batch-size', DEFAULT_PREDICT_BATCH);
  const dataDir = (flags.data as string | undefined) ?? ckpt.config.data ?? builtinMnistDir();
  const data = loadDataset(dataDir, ckpt.model.numClasses);
  if (data.train.inputSize !== ckpt.model.inputSize) {
    throw new DataError(`${dataDir}: images have ${data.train.inputSize} pixels, the model of ${ckpt.checkpoint} expects ${ckpt.model.inputSize}`);
  }
  const model = await loadCheckpointModel(opened);
  const { log, failure } = createLogger('info', logFile);

  // 2. Predict each split with the Layers model, then the seed's report.
  const start = performance.now();
  const limit = evalLimit ?? Infinity;
  const reports: { train?: SplitReport; test?: SplitReport } = {};
  if (splits.includes('train')) {
    const { numTrain } = rowsOf({ limit: ckpt.config.limit ?? null, validationSplit: ckpt.config.validationSplit ?? 0 }, data);
    reports.train = report(model, data.train, Math.min(numTrain, limit), mask, batchSize, ckpt.model.numClasses);
  }
  if (splits.includes('test')) reports.test = report(model, data.test, Math.min(data.test.count, limit), mask, batchSize, ckpt.model.numClasses);
  model.dispose();

  // 3. The trainer's \`eval\` event on stdout (and --log-file).
  log.info({
    event: 'eval', checkpoint: ckpt.checkpoint, dir: opened.root, step: ckpt.step, mask: maskToString(mask),
    ms: round(performance.now() - start), ...reports,
  }, 'eval');
  const failed = failure();
  if (failed) throw failed;
  return { ...reports, mask: maskToString(mask) };
}

/** A task module's report: the trainer's own evaluation of the checkpoint's weights. */
async function taskEval(opened: OpenedCheckpoint, flags: FlagValues, splits: readonly SplitName[], evalLimit: number | null, logFile: string | null): Promise<Reports> {
  const { checkpoint: ckpt } = opened;
  if (flags['batch-size'] !== undefined) {
    throw new ConfigError(`--batch-size: the evaluation of a task's checkpoint runs on the trainer's worker threads, two jobs a thread; it has no prediction batch`);
  }
  // The checkpoint's settings, with these over them (a --mask a task's own label export
  // cannot use is refused as train refuses it).
  const settings = { data: flags.data, mask: flags.mask, evalLimit: evalLimit ?? undefined };
  const { plan, data } = await prepareCheckpointEval(ckpt, opened.dir, settings, splits);
  const { log, failure } = createLogger('info', logFile);
  const reports = await evaluateCheckpoint(plan, log, data, { checkpoint: ckpt.checkpoint, dir: opened.root, step: ckpt.step });
  const failed = failure();
  if (failed) throw failed;
  return reports ?? {};
}

function report(model: LayersModel, s: Split, rows: number, mask: MaskRule, batchSize: number, numClasses: number): SplitReport {
  const { inputSize } = s;
  const labels = s.labels.subarray(0, rows);
  const probabilities = predictRows(model, s.images.subarray(0, rows * inputSize), inputSize, batchSize, numClasses);
  const cond = new Uint8Array(rows);
  fillConditions(labels, mask, cond);
  return evalReport(labels, argmaxRows(probabilities, numClasses), cond, numClasses);
}

export const main = (argv: string[]): Promise<number> => runCommand(HELP, () => run(argv));

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
