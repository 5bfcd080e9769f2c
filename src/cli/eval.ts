// `npm run eval`: the seed's report for a checkpoint, computed by the checkpoint's
// TensorFlow.js Layers model, logged as the trainer's `eval` event and printed as tables.
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../settings/config.js';
import { builtinMnistDir, DataError, loadDataset } from '../data/idx.js';
import type { Split } from '../data/idx.js';
import { fillConditions, maskToString, parseMask } from '../model/labels.js';
import type { MaskRule } from '../model/labels.js';
import { createLogger } from '../run/log.js';
import { probeFile } from '../files/outputs.js';
import { parseFlags } from '../settings/config.js';
import { DEFAULT_PREDICT_BATCH, loadCheckpointModel, openCheckpoint, predictProbabilities } from '../checkpoint/layers-model.js';
import { argmaxRows } from '../model/labels.js';
import { intFlag, requiredFlag, runCommand } from './command.js';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { formatReport } from '../report/eval-report.js';
import { evalReport } from '../metrics/eval.js';
import type { SplitReport } from '../metrics/eval.js';
import { round } from '../metrics/step-stats.js';

export const HELP = `Usage: tfjs-parallel-trainer eval --checkpoint DIR [flags]
       (in this repository: npm run eval -- --checkpoint DIR [flags])

Evaluates a checkpoint's model (loaded through the TensorFlow.js Layers format) and
prints the seed's report: accuracy on the rows whose condition is 1 and 0, odd/even
confusion matrices, bincounts and per-class accuracy. Tables go to stderr; one NDJSON
\`eval\` event (the trainer's shape) goes to stdout.

Flags:
  --checkpoint DIR   a checkpoint root (the newest valid checkpoint is used) or one
                     ckpt-NNNNNNNNN directory (required)
  --data DIR         IDX dataset directory (default: the checkpoint's data, else MNIST)
  --mask RULE        condition column: odd | even | all | classes=1,3,7
                     (default: the checkpoint's mask)
  --split S          test | train | both (default test); train rows stop at the
                     checkpoint's --limit
  --batch-size N     rows per prediction batch (default ${DEFAULT_PREDICT_BATCH})
  --log-file PATH    also append the NDJSON event to PATH
  --help             print this help and exit
`;

const SPLITS = ['test', 'train', 'both'] as const;

async function run(argv: string[]): Promise<void> {
  // 1. Every check before anything is loaded or written: flags, checkpoint, data.
  const flags = parseFlags(argv, { checkpoint: 'string', data: 'string', mask: 'string', split: 'string', 'batch-size': 'string', 'log-file': 'string' });
  const path = requiredFlag(flags, 'checkpoint', 'a checkpoint root or a ckpt-* directory');
  const split = (flags.split ?? 'test') as (typeof SPLITS)[number];
  if (!SPLITS.includes(split)) throw new ConfigError(`--split: expected one of ${SPLITS.join(', ')}, got "${flags.split as string}"`);
  const batchSize = intFlag(flags, 'batch-size', DEFAULT_PREDICT_BATCH);
  const logFile = (flags['log-file'] as string | undefined) ?? null;
  if (logFile) probeFile('--log-file', logFile, 'append'); // before any work: a bad path costs nothing
  const opened = openCheckpoint(path, (problem) => process.stderr.write(`warning: skipping invalid checkpoint: ${problem}\n`));
  const { checkpoint: ckpt } = opened;
  const maskText = (flags.mask as string | undefined) ?? ckpt.config.mask;
  const mask = parseMask(maskText);
  if (typeof mask === 'string') throw new ConfigError(`--mask: expected ${mask}, got "${maskText}"`);
  const dataDir = (flags.data as string | undefined) ?? ckpt.config.data ?? builtinMnistDir();
  const data = loadDataset(dataDir, ckpt.model.numClasses);
  if (data.train.inputSize !== ckpt.model.inputSize) {
    throw new DataError(`${dataDir}: images have ${data.train.inputSize} pixels, the model of ${ckpt.checkpoint} expects ${ckpt.model.inputSize}`);
  }
  const model = await loadCheckpointModel(opened);
  const { log, failure } = createLogger('info', logFile);

  // 2. Predict each split with the Layers model, then the seed's report.
  const start = performance.now();
  const reports: { train?: SplitReport; test?: SplitReport } = {};
  if (split !== 'test') {
    const numTrain = Math.min(ckpt.config.limit ?? Infinity, data.train.count);
    reports.train = report(model, data.train, numTrain, mask, batchSize, ckpt.model.numClasses);
  }
  if (split !== 'train') reports.test = report(model, data.test, data.test.count, mask, batchSize, ckpt.model.numClasses);
  model.dispose();

  // 3. The trainer's `eval` event on stdout (and --log-file), the tables on stderr.
  log.info({
    event: 'eval', checkpoint: ckpt.checkpoint, dir: opened.root, step: ckpt.step, mask: maskToString(mask),
    ms: round(performance.now() - start), ...reports,
  }, 'eval');
  const tables = [
    `checkpoint ${opened.dir} (step ${ckpt.step}), mask ${maskToString(mask)}`,
    ...(reports.train ? [formatReport('training', reports.train)] : []),
    ...(reports.test ? [formatReport('test', reports.test)] : []),
  ];
  process.stderr.write(`${tables.join('\n\n')}\n`);
  const failed = failure();
  if (failed) throw failed;
}

function report(model: LayersModel, s: Split, rows: number, mask: MaskRule, batchSize: number, numClasses: number): SplitReport {
  const { inputSize } = s;
  const labels = s.labels.subarray(0, rows);
  const probabilities = predictProbabilities(model, s.images.subarray(0, rows * inputSize), inputSize, batchSize, numClasses);
  const cond = new Uint8Array(rows);
  fillConditions(labels, mask, cond);
  return evalReport(labels, argmaxRows(probabilities, numClasses), cond, numClasses);
}

export const main = (argv: string[]): Promise<number> => runCommand(HELP, () => run(argv));

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
