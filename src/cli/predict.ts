// `npm run predict`: class probabilities of every image of an IDX file, computed by a
// checkpoint's TensorFlow.js Layers model, one JSON line per image.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DataError, readIdx } from '../data/idx.js';
import { parseFlags } from '../settings/config.js';
import { asWriteError, makeDirs, probeFile } from '../files/outputs.js';
import { DEFAULT_PREDICT_BATCH, loadCheckpointModel, openCheckpoint, predictProbabilities } from '../checkpoint/layers-model.js';
import { argmaxRows } from '../model/labels.js';
import { intFlag, requiredFlag, runCommand } from './command.js';

export const HELP = `Usage: tfjs-parallel-trainer predict --checkpoint DIR --images FILE [flags]
       (in this repository: npm run predict -- --checkpoint DIR --images FILE [flags])

Classifies every image of an IDX image file (rank 3: count x rows x cols, raw or .gz)
with a checkpoint's model, loaded through the TensorFlow.js Layers format. Pixels are
scaled to [0, 1] as in training. Writes one JSON line per image:
  {"index":0,"class":7,"probabilities":[...]}

Flags:
  --checkpoint DIR   a checkpoint root (the newest valid checkpoint is used) or one
                     ckpt-NNNNNNNNN directory (required)
  --images FILE      the IDX image file; rows x cols must equal the model's input (required)
  --out FILE         write the lines to FILE (atomically: a temp file, then a rename)
                     instead of stdout
  --batch-size N     rows per prediction batch (default ${DEFAULT_PREDICT_BATCH})
  --help             print this help and exit
`;

async function run(argv: string[]): Promise<void> {
  // 1. Every check before anything is written: flags, checkpoint, images and their size.
  const flags = parseFlags(argv, { checkpoint: 'string', images: 'string', out: 'string', 'batch-size': 'string' });
  const path = requiredFlag(flags, 'checkpoint', 'a checkpoint root or a ckpt-* directory');
  const imagesPath = requiredFlag(flags, 'images', 'an IDX image file');
  const out = (flags.out as string | undefined) ?? null;
  const batchSize = intFlag(flags, 'batch-size', DEFAULT_PREDICT_BATCH);
  if (out) probeFile('--out', out, 'replace'); // before any work: a bad path costs nothing
  const opened = openCheckpoint(path, (problem) => process.stderr.write(`warning: skipping invalid checkpoint: ${problem}\n`));
  const { inputSize, numClasses } = opened.checkpoint.model;
  const images = readIdx(imagesPath);
  if (images.dims.length !== 3) throw new DataError(`${imagesPath}: expected rank 3 (count, rows, cols), got dims ${images.dims.join('x')}`);
  const [count, rows, cols] = images.dims;
  if (rows * cols !== inputSize) {
    throw new DataError(`${imagesPath}: images are ${rows}x${cols} (${rows * cols} pixels), the model of ${opened.checkpoint.checkpoint} expects ${inputSize} pixels`);
  }
  const model = await loadCheckpointModel(opened);

  // 2. Predict in batches; one line per image.
  const probabilities = predictProbabilities(model, images.data, inputSize, batchSize, numClasses);
  model.dispose();
  const classes = argmaxRows(probabilities, numClasses);
  const lines: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const p = Array.from(probabilities.subarray(i * numClasses, (i + 1) * numClasses));
    lines[i] = `${JSON.stringify({ index: i, class: classes[i], probabilities: p })}\n`;
  }
  const text = lines.join('');

  // 3. Out: a reader of --out sees the old file or the complete new one, never a part.
  if (!out) {
    // Awaited: writes to a pipe are asynchronous, and the bin ends with process.exit,
    // which cut a 2 MB prediction of the MNIST test set short.
    await new Promise<void>((resolve, reject) => process.stdout.write(text, (e) => (e ? reject(asWriteError(e, 'stdout')) : resolve())));
    return;
  }
  makeDirs(dirname(out));
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw asWriteError(e, out);
  }
}

export const main = (argv: string[]): Promise<number> => runCommand(HELP, () => run(argv));

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
