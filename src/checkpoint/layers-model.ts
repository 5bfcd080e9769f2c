// What `eval` and `predict` share: opening a checkpoint (a root or one ckpt-* directory) as a TensorFlow.js Layers model,
// and batched prediction over IDX image bytes.
import { basename, dirname, join, resolve } from 'node:path';
import { concat, io, reshape, slice, tensor, tidy } from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CHECKPOINT_NAME, CheckpointError, readCheckpoint, readLatestCheckpoint } from './checkpoint.js';
import { readBytes, readJson } from '../files/files.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import { initBackend } from '../model/init-backend.js';
import { scaledRows } from '../data/pixels.js';

/** Rows per predictOnBatch call: large enough to amortise the per-call cost, 3 MB of input. */
export const DEFAULT_PREDICT_BATCH = 1000;

// ---- checkpoint -> model ---------------------------------------------------------------

/**
 * What tf.io.fromMemory takes (a structural copy of tfjs-core's io.ModelArtifacts, so
 * that this module, and the library's declarations, need no TF.js types).
 */
export interface LayersModelArtifacts {
  modelTopology: object;
  weightSpecs: { name: string; shape: number[]; dtype: 'float32' }[];
  weightData: ArrayBuffer;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

/**
 * model.json + weights.bin of a checkpoint directory, for
 * tf.loadLayersModel(tf.io.fromMemory(artifacts)): no file:// handler (tfjs-node) needed.
 */
export function layersModelArtifacts(ckptDir: string): LayersModelArtifacts {
  const path = join(ckptDir, 'model.json');
  const json = readJson(path);
  const m = json.value as { modelTopology?: object; weightsManifest?: { paths?: string[]; weights: LayersModelArtifacts['weightSpecs'] }[]; format?: string; generatedBy?: string; convertedBy?: string | null } | undefined;
  const group = m?.weightsManifest?.[0];
  if (json.problem || !group?.paths || !m?.modelTopology || group.paths.length !== 1) {
    throw new CheckpointError(`${path}: ${json.problem ?? 'not a single-file Layers model'}`);
  }
  const bin = readBytes(join(ckptDir, group.paths[0]));
  if (typeof bin === 'string') throw new CheckpointError(`${join(ckptDir, group.paths[0])}: ${bin}`);
  return {
    modelTopology: m.modelTopology, weightSpecs: group.weights, weightData: new Uint8Array(bin).buffer,
    format: m.format, generatedBy: m.generatedBy, convertedBy: m.convertedBy,
  };
}

export interface OpenedCheckpoint {
  checkpoint: LoadedCheckpoint;
  /** The ckpt-* directory that was validated and whose model is loaded. */
  dir: string;
  /** The checkpoint root it sits in. */
  root: string;
}

/**
 * `path` is a checkpoint root (the newest valid checkpoint is used; each invalid one
 * is passed to `onInvalid` first) or one ckpt-NNNNNNNNN directory (used only if valid).
 */
export function openCheckpoint(path: string, onInvalid: (problem: string) => void): OpenedCheckpoint {
  if (!CHECKPOINT_NAME.test(basename(resolve(path)))) {
    const checkpoint = readLatestCheckpoint(path, (_, problem) => onInvalid(problem));
    return { checkpoint, dir: join(path, checkpoint.checkpoint), root: path };
  }
  return { checkpoint: readCheckpoint(path), dir: path, root: dirname(path) };
}

/**
 * The checkpoint's model.json + weights.bin through tf.loadLayersModel, exactly as any
 * TensorFlow.js program would load it. Sets the wasm backend first.
 */
export async function loadCheckpointModel(opened: OpenedCheckpoint): Promise<LayersModel> {
  const { checkpoint: ckpt, dir } = opened;
  const artifacts = layersModelArtifacts(dir);
  // The bytes validated by readLatestCheckpoint must be the bytes loaded: a trainer
  // writing into the same root could replace the directory between the two reads.
  const validated = Buffer.from(ckpt.weights.buffer, ckpt.weights.byteOffset, ckpt.weights.byteLength);
  if (!(artifacts.weightData instanceof ArrayBuffer) || !Buffer.from(artifacts.weightData).equals(validated)) {
    throw new CheckpointError(`${join(dir, 'weights.bin')}: changed while being read (is a trainer writing to this directory?)`);
  }
  await initBackend('wasm');
  const model = await loadLayersModel(io.fromMemory(artifacts));
  // A task's model may take rows of any shape ([28, 28, 1]) and give any output.
  const input = model.inputs[0].shape;
  const inputSize = input.slice(1).reduce<number>((a, b) => a * (b ?? NaN), 1);
  if (inputSize !== ckpt.model.inputSize) {
    model.dispose();
    throw new CheckpointError(`${join(dir, 'model.json')}: the model takes [${input}], state.json says ${ckpt.model.inputSize} values a row`);
  }
  return model;
}

/**
 * The model's class columns: the first numClasses of a [rows, columns] output that has
 * at least that many (the trainer's rule, src/task/load.ts), else null (a regression's
 * outputs, say, which are not classes).
 */
export function classColumns(model: LayersModel, numClasses: number): number | null {
  if (model.outputs.length > 1) return null; // several outputs: each one's raw values
  const output = model.outputs[0].shape;
  return output.length === 2 && (output[1] ?? 0) >= numClasses ? numClasses : null;
}

// ---- prediction ------------------------------------------------------------------------

/**
 * The model's outputs of `count` rows stored as bytes (scaled to [0, 1] as in training)
 * or floats, shaped as the model's input, `batchSize` rows per predictOnBatch call: the
 * first `columns` columns of each row (the class probabilities), or, without `columns`,
 * every output value of each row. [count, columns or values a row], row-major.
 */
export function predictRows(model: LayersModel, images: Uint8Array | Float32Array, inputSize: number, batchSize: number, columns?: number): Float32Array {
  const count = images.length / inputSize;
  const rowShape = model.inputs[0].shape.slice(1) as number[];
  // Several outputs: each flattened, side by side in output order.
  const width = columns ?? outputWidths(model).reduce((a, b) => a + b, 0);
  const out = new Float32Array(count * width);
  const x = new Float32Array(Math.min(batchSize, count) * inputSize); // reused by every batch
  for (let start = 0; start < count; start += batchSize) {
    const rows = Math.min(batchSize, count - start);
    scaledRows(images, start, rows, inputSize, x);
    tidy(() => {
      const pred = model.predictOnBatch(tensor(x.subarray(0, rows * inputSize), [rows, ...rowShape]));
      const p = Array.isArray(pred) ? concat(pred.map((o) => reshape(o, [rows, -1])), 1) : reshape(pred, [rows, -1]);
      out.set(slice(p, [0, 0], [-1, width]).dataSync(), start * width);
    });
  }
  return out;
}

/** Each output's values per row. */
export const outputWidths = (model: LayersModel): number[] => model.outputs.map((o) => o.shape.slice(1).reduce<number>((a, b) => a * (b ?? NaN), 1));
