// --init-from: the first weights of a run from a saved TensorFlow.js Layers model (a
// model.json and its weight files, as this trainer's checkpoints and any TF.js program's
// model.save() write them), matched to the run's model by weight name and shape.
//
// By name, not by position: a layer the user freezes for fine-tuning (trainable: false)
// moves its weights behind the trainable ones in model.weights, so the saved order and
// the run's differ. Auto-generated layer names (dense_Dense1, from another process) are
// renamed the Keras way on both sides (src/task/topology.ts), as --resume compares them.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readBytes, readJson } from '../files/files.js';
import type { ParamLayout } from '../model/layout.js';
import { canonicalRenames } from '../task/topology.js';
import { CheckpointError, listCheckpoints, readLatestCheckpoint } from './checkpoint.js';

interface Manifest {
  modelTopology?: object;
  weightsManifest?: { paths?: unknown; weights?: { name?: unknown; shape?: unknown; dtype?: unknown; quantization?: unknown }[] }[];
}

/**
 * The weights of the model saved at `path` (a model.json, a directory holding one, or a
 * checkpoint directory: its newest valid checkpoint), in `layout`'s order. A weight the
 * run's model has and the file has not, or has with another shape, and a weight of the
 * file the model has not, are refused, naming the first one.
 */
export function readInitWeights(path: string, layout: ParamLayout): Float32Array {
  const what = `--init-from ${path}`;
  const file = modelJsonOf(path, what);
  const json = readJson(file);
  const m = json.value as Manifest | undefined;
  if (json.problem || !m || typeof m !== 'object' || !Array.isArray(m.weightsManifest)) {
    throw new CheckpointError(`${what}: ${file}: ${json.problem ?? 'not a TensorFlow.js Layers model.json (no weightsManifest)'}`);
  }
  const renames = m.modelTopology ? canonicalRenames(m.modelTopology) : new Map<string, string>();
  const canonical = (name: string) => name.split('/').map((part) => renames.get(part) ?? part).join('/');
  // Every weight of the file by its canonical name: its shape and its values.
  const saved = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const group of m.weightsManifest) {
    const paths = group.paths;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string') || !Array.isArray(group.weights)) {
      throw new CheckpointError(`${what}: ${file}: a weightsManifest group without paths or weights`);
    }
    const parts: Buffer[] = [];
    for (const p of paths as string[]) {
      const bytes = readBytes(join(dirname(file), p));
      if (typeof bytes === 'string') throw new CheckpointError(`${what}: ${join(dirname(file), p)}: ${bytes}`);
      parts.push(bytes);
    }
    const data = Buffer.concat(parts);
    let offset = 0;
    for (const w of group.weights) {
      const shape = Array.isArray(w.shape) && w.shape.every((d) => Number.isInteger(d) && d >= 0) ? w.shape as number[] : null;
      if (typeof w.name !== 'string' || !shape) throw new CheckpointError(`${what}: ${file}: a weight without a name or a shape`);
      if (w.dtype !== 'float32' || w.quantization !== undefined) {
        throw new CheckpointError(`${what}: ${file}: weight ${w.name} is ${w.quantization ? 'quantized' : String(w.dtype)}; only float32 weights can be trained from`);
      }
      const size = shape.reduce((a, b) => a * b, 1);
      if (offset + 4 * size > data.length) throw new CheckpointError(`${what}: ${file}: its weight files hold ${data.length} bytes, fewer than its manifest's weights need`);
      const key = canonical(w.name);
      // Two sub-models with a layer of one name each save weights of one name: which is which cannot be told.
      if (saved.has(key)) throw new CheckpointError(`${what}: ${file}: two weights are named ${key}; name the layers of its sub-models apart`);
      saved.set(key, { shape, values: new Float32Array(new Uint8Array(data.subarray(offset, offset + 4 * size)).buffer) });
      offset += 4 * size;
    }
    if (offset !== data.length) throw new CheckpointError(`${what}: ${file}: its weight files hold ${data.length} bytes, its manifest's weights ${offset}`);
  }
  const out = new Float32Array(layout.numParams);
  const twice = layout.params.find((p, i) => layout.params.findIndex((q) => q.name === p.name) !== i);
  if (twice) throw new CheckpointError(`${what}: this run's model has two weights named ${twice.name}; name the layers of its sub-models apart`);
  for (const p of layout.params) {
    const w = saved.get(p.name);
    if (!w) throw new CheckpointError(`${what}: the model differs: this run's model has ${p.name} [${p.shape}], the saved model has no such weight (it has ${[...saved.keys()].slice(0, 6).join(', ')}${saved.size > 6 ? ', ...' : ''})`);
    if (w.shape.join() !== p.shape.join()) throw new CheckpointError(`${what}: the model differs: ${p.name} is [${w.shape}] in the saved model, [${p.shape}] in this run's`);
    out.set(w.values, p.offset);
  }
  const ours = new Set(layout.params.map((p) => p.name));
  const extra = [...saved.keys()].find((n) => !ours.has(n));
  if (extra) throw new CheckpointError(`${what}: the model differs: the saved model has ${extra} [${saved.get(extra)!.shape}], this run's model has no such weight`);
  return out;
}

/** The model.json `path` names: itself, the one in a directory, or a checkpoint directory's newest valid checkpoint's. */
function modelJsonOf(path: string, what: string): string {
  if (!existsSync(path)) throw new CheckpointError(`${what}: not found`);
  if (!statSync(path).isDirectory()) return path;
  if (existsSync(join(path, 'model.json'))) return join(path, 'model.json');
  if (listCheckpoints(path).length > 0) return join(path, readLatestCheckpoint(path).checkpoint, 'model.json');
  throw new CheckpointError(`${what}: a directory without a model.json or checkpoints`);
}
