// `npm run predict`: a checkpoint's TensorFlow.js Layers model on every row of an IDX or
// .npy file, one JSON line per row: the class and its probabilities, or the raw outputs
// of a model without class columns (a regression).
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DataError, readIdx } from '../data/idx.js';
import { parseFlags } from '../settings/config.js';
import { asWriteError, makeDirs, probeFile } from '../files/outputs.js';
import { classColumns, DEFAULT_PREDICT_BATCH, loadCheckpointModel, openCheckpoint, outputWidths, predictRows } from '../checkpoint/layers-model.js';
import { readNpyRows } from '../data/npy.js';
import { argmaxRows } from '../model/labels.js';
import { intFlag, requiredFlag, runCommand } from './command.js';

export const HELP = `Usage: tfjs-parallel-trainer predict --checkpoint DIR --images FILE [flags]
       (in this repository: npm run predict -- --checkpoint DIR --images FILE [flags])

Runs a checkpoint's model, loaded through the TensorFlow.js Layers format, on every row
of an IDX image file (rank 3: count x rows x cols, raw or .gz) or a .npy file ([N, ...],
uint8 or float32). Bytes are scaled to [0, 1] as in training. Writes one JSON line per
row; when the model's first output columns are its classes (the built-in task, a
classifier task):
  {"index":0,"class":7,"probabilities":[...]}
else (a regression, say) its raw outputs, every value of the row's output:
  {"index":0,"outputs":[0.41,0.52,...]}

Flags:
  --checkpoint DIR   a checkpoint root (the newest valid checkpoint is used) or one
                     ckpt-NNNNNNNNN directory (required)
  --images FILE      the IDX image file, or a .npy file; a row's values must be as many as
                     the model's input (required)
  --out FILE         write the lines to FILE (atomically: a temp file, then a rename)
                     instead of stdout
  --batch-size N     rows per prediction batch (default ${DEFAULT_PREDICT_BATCH})
  --help             print this help and exit
`;

async function run(argv: string[]): Promise<void> {
  // 1. Every check before anything is written: flags, checkpoint, images and their size.
  const flags = parseFlags(argv, { checkpoint: 'string', images: 'string', out: 'string', 'batch-size': 'string' });
  const path = requiredFlag(flags, 'checkpoint', 'a checkpoint root or a ckpt-* directory');
  const imagesPath = requiredFlag(flags, 'images', 'an IDX image file or a .npy file');
  const out = (flags.out as string | undefined) ?? null;
  const batchSize = intFlag(flags, 'batch-size', DEFAULT_PREDICT_BATCH);
  if (out) probeFile('--out', out, 'replace'); // before any work: a bad path costs nothing
  const opened = openCheckpoint(path, (problem) => process.stderr.write(`warning: skipping invalid checkpoint: ${problem}\n`));
  const { inputSize, numClasses } = opened.checkpoint.model;
  const { rows: data, count } = readRows(imagesPath, inputSize, opened.checkpoint.checkpoint);
  const model = await loadCheckpointModel(opened);

  // 2. Predict in batches; one line per row.
  const classes = classColumns(model, numClasses);
  const outputs = predictRows(model, data, inputSize, batchSize, classes ?? undefined);
  const widths = outputWidths(model);
  model.dispose();
  const width = outputs.length / count;
  const lines: string[] = new Array(count);
  const best = classes ? argmaxRows(outputs, classes) : null;
  // A model with several outputs: one list per output, each from its offset in the row.
  const offsets = widths.map((_, k) => widths.slice(0, k).reduce((a, b) => a + b, 0));
  for (let i = 0; i < count; i++) {
    const row = Array.from(outputs.subarray(i * width, (i + 1) * width));
    const split = widths.length > 1 ? widths.map((w, k) => row.slice(offsets[k], offsets[k] + w)) : row;
    lines[i] = `${JSON.stringify(best ? { index: i, class: best[i], probabilities: row } : { index: i, outputs: split })}\n`;
  }
  const text = lines.join('');

  // 3. Out: a reader of --out sees the old file or the complete new one, never a part.
  if (!out) {
    // Awaited: writes to a pipe are asynchronous, and the bin ends with process.exit,
    // which cut a 2 MB prediction of the MNIST test set short. A reader that closes the
    // pipe early (\`| head\`) has what it wanted: no error, as with any Unix filter.
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error | null) => (!e || (e as NodeJS.ErrnoException).code === 'EPIPE' ? resolve() : reject(asWriteError(e, 'stdout')));
      process.stdout.once('error', done);
      process.stdout.write(text, done);
    });
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

/** The rows of an IDX image file or a .npy file, each of the model's `inputSize` values. */
function readRows(path: string, inputSize: number, checkpoint: string): { rows: Uint8Array | Float32Array; count: number } {
  if (path.endsWith('.npy')) {
    const x = readNpyRows(path);
    if (x.inputSize !== inputSize) throw new DataError(`${path}: rows of shape [${x.shape}] (${x.inputSize} values), the model of ${checkpoint} expects ${inputSize}`);
    return { rows: x.images, count: x.count };
  }
  const images = readIdx(path);
  if (images.dims.length !== 3) throw new DataError(`${path}: expected rank 3 (count, rows, cols), got dims ${images.dims.join('x')}`);
  const [count, rows, cols] = images.dims;
  if (rows * cols !== inputSize) {
    throw new DataError(`${path}: images are ${rows}x${cols} (${rows * cols} pixels), the model of ${checkpoint} expects ${inputSize} pixels`);
  }
  return { rows: images.data, count };
}

export const main = (argv: string[]): Promise<number> => runCommand(HELP, () => run(argv));

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
