// Owns the checkpoint format on disk: what a checkpoint directory holds, how it is written
// so that a crash never leaves a mix of two checkpoints, how it is validated and which one
// a resume falls back to, and how many are kept.
//
//   DIR/latest.json               {checkpoint, files: {file: sha256}}: the commit point
//   DIR/ckpt-000000468/           one checkpoint, named by the global step, zero-padded
//     model.json + weights.bin    the model in the TensorFlow.js Layers format
//     optimizer.bin               the optimiser's state vectors one after the other (Adam: m then v), float32 little-endian
//     best-weights.bin            early stopping's best epoch's weights (with --restore-best-weights, once it has one)
//     state.json                  counters, RNG state, the optimiser's step count and vectors, config, model, layout
//     checksums.json              {files}: validates this checkpoint after the pointer moved on
//   DIR/.tmp-*                    being written or retired; never read, removed by the next write
//                                 and by removeTemps when a run starts
//   DIR/.replaced-ckpt-*          the old copy while a checkpoint of the same step is replaced
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { ConfigJson } from '../settings/config.js';
import { injectWriteFault, parseWriteFaults } from '../engine/faults.js';
import { bestEffort, fsStep, fsyncDir, parseJson, readBytes, readJson, writeDurable } from '../files/files.js';
import { asWriteError, makeDirs, WriteError } from '../files/outputs.js';
import type { OptimizerState } from '../optim/optimizers.js';
import { paramLayout } from '../model/layout.js';
import type { ModelSpec, ParamLayout } from '../model/layout.js';

/**
 * Bumped whenever the meaning of a file changes; a reader refuses other versions. 2: the
 * optimiser's step count and state vectors (`optimizer: {t, vectors}`) where 1 had
 * Adam's (`adam: {t}`, m and v): this build reads both.
 */
export const CHECKPOINT_FORMAT_VERSION = 2;
const READABLE_VERSIONS = [1, 2];

export interface TrainingState {
  step: number; // global steps completed so far
  epoch: number; // epoch of the next step to run
  stepInEpoch: number; // index within that epoch of the next step
  weightsVersion: number;
  rngState: number; // uint32 state of the shuffle RNG (Rng.state)
  /** The optimiser's step count and state vectors (in the order of its stateNames). */
  optimizer: OptimizerState;
  weights: Float32Array; // flat, in layout order
  layout: ParamLayout;
  model: ModelSpec;
  /** A task model's canonical topology (the general path), written as model.json; absent or null: the built-in Dense stack from `model`. */
  topology?: object | null;
  config: ConfigJson; // the resolved config, as written
  /** Early stopping's state after the last epoch's end (with --early-stopping-patience). */
  earlyStopping?: EarlyStoppingState | null;
  /** True when train() was given the data as arrays: the config's data (null) is then not MNIST. */
  dataFromArrays?: boolean;
}

/** Where early stopping stands after an epoch: what a checkpoint keeps, so that a resumed run stops where the whole run would. */
export interface EarlyStoppingState {
  monitor: string;
  /** The best value so far; null before the first epoch's end. */
  best: number | null;
  bestEpoch: number;
  /** Epochs since the best one. */
  wait: number;
  /** The best epoch's weights (with restoreBestWeights), in best-weights.bin. */
  bestWeights: Float32Array | null;
}

/** A checkpoint read back, with the name of the directory it came from. */
export type LoadedCheckpoint = TrainingState & { checkpoint: string };

export class CheckpointError extends Error {
  readonly code = 'E_CHECKPOINT';
}

const DATA_FILES = ['state.json', 'model.json', 'weights.bin', 'optimizer.bin'] as const;
type DataFile = (typeof DATA_FILES)[number];
/** Written when the state has it, then hashed as the others. */
const BEST_WEIGHTS = 'best-weights.bin' as const;
type FileHashes = Record<DataFile, string> & { [BEST_WEIGHTS]?: string };
const POINTER = 'latest.json';
const CHECKSUMS = 'checksums.json';
const TMP = '.tmp-';
const ASIDE = '.replaced-';
/** A checkpoint directory's name: ckpt- and the step count, 9 digits. */
export const CHECKPOINT_NAME = /^ckpt-\d{9}$/;
const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'linear'];
const GENERATED_BY = `tfjs-parallel-trainer checkpoint format ${CHECKPOINT_FORMAT_VERSION}`;

const checkpointName = (step: number) => `ckpt-${String(step).padStart(9, '0')}`;

/** The complete checkpoint directories in DIR, oldest first ([] if DIR does not exist). */
export function listCheckpoints(dir: string): string[] {
  try {
    return readdirSync(dir).filter((e) => CHECKPOINT_NAME.test(e)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CheckpointError(`${dir}: cannot read checkpoint directory (${(e as NodeJS.ErrnoException).code})`);
  }
}

/**
 * Writes `state` as DIR/ckpt-<step>, moves latest.json to it, then keeps only the newest
 * `keep` checkpoints. Returns the checkpoint's directory name. One writer per DIR.
 * Synchronous on purpose: the bytes are taken from the live weights and optimiser buffers
 * before control returns to the training loop, so no step can change them mid-write.
 */
export function writeCheckpoint(dir: string, state: TrainingState, keep: number): string {
  if (!Number.isInteger(keep) || keep < 1) throw new CheckpointError(`keep: expected an integer >= 1, got ${keep}`);
  if (!Number.isInteger(state.step) || state.step < 0 || state.step > 999_999_999) {
    throw new CheckpointError(`step: expected an integer from 0 to 999999999, got ${state.step}`);
  }
  const layoutProblem = state.topology ? contiguityProblem(state.layout) : layoutDifference(state.layout, paramLayout(state.model), 'the state', 'its model');
  if (layoutProblem) throw new CheckpointError(`layout does not match model: ${layoutProblem}`);
  const n = state.layout.numParams;
  const best = state.earlyStopping?.bestWeights;
  const vectors: [string, Float32Array][] = [['weights', state.weights], ...state.optimizer.state.map((v, k): [string, Float32Array] => [`optimizer.state[${k}]`, v]), ...(best ? [['earlyStopping.bestWeights', best] as [string, Float32Array]] : [])];
  for (const [what, a] of vectors) {
    if (a.length !== n) throw new CheckpointError(`${what}: ${a.length} values, the layout has ${n}`);
  }
  assertLittleEndian();
  const name = checkpointName(state.step);
  const bytes = encode(state);
  const names = Object.keys(bytes) as (keyof typeof bytes)[];
  const files = Object.fromEntries(names.map((f) => [f, sha256(bytes[f]!)])) as FileHashes;

  const fault = (file: string) => injectWriteFault(WRITE_FAULTS, state.step, file);
  makeDirs(dir);
  fsStep(dir, () => settleReplacements(dir));
  // 1. Everything into a private temp directory: readers never look at `.tmp-*`.
  const tmp = join(dir, `${TMP}${name}-${process.pid}`);
  const final = join(dir, name);
  const aside = join(dir, ASIDE + name);
  const tmpPointer = join(dir, `${TMP}${POINTER}-${process.pid}`);
  let published = false;
  let committed = false;
  try {
    fsStep(tmp, () => { rmSync(tmp, { recursive: true, force: true }); mkdirSync(tmp); });
    for (const f of names) writeDurable(join(tmp, f), bytes[f]!, () => fault(f));
    writeDurable(join(tmp, CHECKSUMS), JSON.stringify({ files }, null, 2), () => fault(CHECKSUMS));
    fsyncDir(tmp);
    // 2. Publish it with one rename. A checkpoint of the same step (rewritten after a
    //    resume) moves aside first, not away: latest.json may still commit to it.
    fsStep(final, () => { if (existsSync(final)) renameSync(final, aside); renameSync(tmp, final); });
    published = true;
    fsyncDir(dir);
    // 3. Commit: until this rename, a reader resumes from the previous checkpoint.
    writeDurable(tmpPointer, JSON.stringify({ checkpoint: name, files }, null, 2), () => fault(POINTER));
    fsStep(join(dir, POINTER), () => renameSync(tmpPointer, join(dir, POINTER)));
    committed = true;
    fsyncDir(dir);
  } catch (e) {
    if (committed) throw e; // the new checkpoint is the valid one now; only its fsync failed
    // Not committed: latest.json still names the previous checkpoint, which stays valid.
    // Undo this attempt so that nothing of it holds disk space (a full disk stays full
    // otherwise, and the resumed run would fail at its next checkpoint).
    bestEffort(() => rmSync(tmp, { recursive: true, force: true }));
    bestEffort(() => rmSync(tmpPointer, { force: true }));
    if (published) bestEffort(() => retire(dir, final));
    if (existsSync(aside)) bestEffort(() => renameSync(aside, final));
    throw e instanceof WriteError ? new WriteError(e.path, e.errno, `cannot write checkpoint ${name}`) : e;
  }
  // 4. Retention, only now that the new checkpoint is committed.
  fsStep(dir, () => {
    if (existsSync(aside)) retire(dir, aside);
    removeTemps(dir);
    // Checkpoints past this step belong to a timeline that was abandoned when a resume fell
    // back past them; kept, they would count as "newest" and evict the one just written.
    const names = listCheckpoints(dir);
    const older = names.filter((c) => c < name);
    const doomed = [...older.slice(0, Math.max(0, older.length - (keep - 1))), ...names.filter((c) => c > name)];
    for (const c of doomed) retire(dir, join(dir, c));
  });
  return name;
}

/**
 * Removes what a crashed writer left in DIR (`.tmp-*`: never valid, never read) and
 * returns the names removed; a run calls it before its first checkpoint. A missing DIR
 * has none.
 */
export function removeTemps(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw asWriteError(e, dir);
  }
  const removed = entries.filter((e) => e.startsWith(TMP));
  for (const e of removed) fsStep(join(dir, e), () => rmSync(join(dir, e), { recursive: true, force: true }));
  return removed;
}

/**
 * The newest valid checkpoint: the one latest.json names, else (pointer missing or
 * corrupt) the newest `ckpt-*`; each invalid one is reported to `onInvalid` with a
 * one-line problem naming the file, then the next older one is tried.
 */
export function readLatestCheckpoint(dir: string, onInvalid: (name: string, problem: string) => void = () => {}): LoadedCheckpoint {
  assertLittleEndian();
  let names = listCheckpoints(dir);
  const candidates: { name: string; path: string; files: FileHashes | null }[] = [];
  const pointer = readPointer(dir);
  if (typeof pointer === 'string') {
    if (names.length > 0) onInvalid(POINTER, `${POINTER}: ${pointer}`);
  } else {
    // While ckpt-X is being replaced, its committed copy may be the one set aside.
    const copies = [join(dir, pointer.checkpoint), join(dir, ASIDE + pointer.checkpoint)].filter((p) => existsSync(p));
    if (copies.length === 0) {
      onInvalid(POINTER, `${POINTER}: names ${pointer.checkpoint}, which does not exist`);
    } else {
      const path = copies.find((p) => sameHashes(readHashes(p), pointer.files)) ?? copies[0];
      candidates.push({ name: pointer.checkpoint, path, files: pointer.files });
      names = names.filter((c) => c < pointer.checkpoint);
    }
  }
  for (const c of names.reverse()) candidates.push({ name: c, path: join(dir, c), files: null });
  if (candidates.length === 0) throw new CheckpointError(`${dir}: no checkpoint found`);
  const problems: string[] = [];
  for (const c of candidates) {
    const result = validate(c.name, c.path, c.files);
    if (typeof result !== 'string') return result;
    problems.push(result);
    onInvalid(c.name, result);
  }
  throw new CheckpointError(`${dir}: no valid checkpoint (${problems.length} invalid; newest: ${problems[0]})`);
}

/** One ckpt-* directory, validated against its own checksums.json; throws if invalid. */
export function readCheckpoint(path: string): LoadedCheckpoint {
  assertLittleEndian();
  const name = basename(resolve(path));
  if (!existsSync(path)) throw new CheckpointError(`${path}: checkpoint directory not found`);
  const result = validate(name, path, null);
  if (typeof result === 'string') throw new CheckpointError(`${path}: not a valid checkpoint (${result})`);
  return result;
}

/** Why a checkpoint's layout cannot resume under a config's layout, or null when identical. */
export function describeLayoutDifference(checkpoint: ParamLayout, config: ParamLayout): string | null {
  return layoutDifference(checkpoint, config, 'the checkpoint', 'the config');
}

// ---- encoding --------------------------------------------------------------------------

function encode(s: TrainingState): Record<DataFile, Uint8Array> & { [BEST_WEIGHTS]?: Uint8Array } {
  const es = s.earlyStopping;
  const state = {
    formatVersion: CHECKPOINT_FORMAT_VERSION, step: s.step, epoch: s.epoch, stepInEpoch: s.stepInEpoch,
    weightsVersion: s.weightsVersion, rngState: s.rngState, optimizer: { t: s.optimizer.t, vectors: s.optimizer.state.length }, model: s.model, layout: s.layout, config: s.config,
    // The layout follows from model.json's topology (a task model), not from `model`.
    ...(s.topology ? { taskModel: true } : {}),
    ...(es ? { earlyStopping: { monitor: es.monitor, best: es.best, bestEpoch: es.bestEpoch, wait: es.wait, bestWeights: es.bestWeights !== null } } : {}),
    ...(s.dataFromArrays ? { dataFromArrays: true } : {}),
  };
  const modelJson = s.topology
    ? { format: 'layers-model', generatedBy: GENERATED_BY, convertedBy: null, modelTopology: s.topology, weightsManifest: [{ paths: ['weights.bin'], weights: manifestOf(s.layout) }] }
    : layersModelJson(s.model, s.layout);
  return {
    'state.json': Buffer.from(`${JSON.stringify(state, null, 2)}\n`),
    'model.json': Buffer.from(JSON.stringify(modelJson)),
    'weights.bin': bytesOf(s.weights),
    'optimizer.bin': Buffer.concat(s.optimizer.state.map(bytesOf)),
    ...(es?.bestWeights ? { [BEST_WEIGHTS]: bytesOf(es.bestWeights) } : {}),
  };
}

/**
 * The Keras Sequential topology that tfjs-layers 4.22's own model.toJSON() writes, less the
 * keys whose value is the default (initializers, regularizers, constraints).
 */
function layersModelJson(model: ModelSpec, layout: ParamLayout) {
  const dense = [...model.hidden, { units: model.numClasses, activation: 'softmax' }];
  const layers = dense.map((d, l) => ({
    class_name: 'Dense',
    config: {
      // The layer names come from the layout, so the weight names are exactly its names.
      name: layout.params[2 * l].name.split('/')[0], trainable: true, dtype: 'float32',
      ...(l === 0 ? { batch_input_shape: [null, model.inputSize] } : {}),
      units: d.units, activation: d.activation, use_bias: true,
    },
  }));
  return {
    format: 'layers-model', generatedBy: GENERATED_BY, convertedBy: null,
    modelTopology: { class_name: 'Sequential', config: { name: 'sequential', layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
    weightsManifest: [{ paths: ['weights.bin'], weights: manifestOf(layout) }],
  };
}

const manifestOf = (layout: ParamLayout) => layout.params.map((p) => ({ name: p.name, shape: p.shape, dtype: 'float32' }));

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Through a copy (new Uint8Array), so the floats are aligned whatever Buffer pooling did. */
const floatsOf = (buf: Buffer, start: number, count: number) => new Float32Array(new Uint8Array(buf.subarray(start * 4, (start + count) * 4)).buffer);

// ---- validation ------------------------------------------------------------------------

/** The checkpoint in `path`, or a one-line problem naming the file. */
function validate(name: string, path: string, pointerFiles: FileHashes | null): LoadedCheckpoint | string {
  const where = (f: string) => `${name}/${f}`;
  const files = pointerFiles ?? readHashes(path);
  if (typeof files === 'string') return `${where(CHECKSUMS)}: ${files}`;
  const bytes = {} as Record<DataFile, Buffer>;
  for (const f of DATA_FILES) {
    const b = readBytes(join(path, f));
    if (typeof b === 'string') return `${where(f)}: ${b}`;
    bytes[f] = b;
  }
  if (sha256(bytes['state.json']) !== files['state.json']) return `${where('state.json')}: sha256 mismatch`;
  const state = parseState(bytes['state.json'], name);
  if (typeof state === 'string') return `${where('state.json')}: ${state}`;
  // Sizes before hashes, so a truncated file says so.
  const n = state.layout.numParams;
  const k = state.optimizer.vectors;
  for (const [f, expected] of [['weights.bin', 4 * n], ['optimizer.bin', 4 * k * n]] as const) {
    if (bytes[f].length !== expected) return `${where(f)}: ${bytes[f].length} bytes, expected ${expected} for ${n} parameters`;
  }
  for (const f of ['model.json', 'weights.bin', 'optimizer.bin'] as const) {
    if (sha256(bytes[f]) !== files[f]) return `${where(f)}: sha256 mismatch`;
  }
  let bestWeights: Float32Array | null = null;
  if (state.earlyStopping?.bestWeights) {
    const b = readBytes(join(path, BEST_WEIGHTS));
    if (typeof b === 'string') return `${where(BEST_WEIGHTS)}: ${b}`;
    if (b.length !== 4 * n) return `${where(BEST_WEIGHTS)}: ${b.length} bytes, expected ${4 * n} for ${n} parameters`;
    if (sha256(b) !== files[BEST_WEIGHTS]) return `${where(BEST_WEIGHTS)}: sha256 mismatch`;
    bestWeights = floatsOf(b, 0, n);
  }
  const opt = bytes['optimizer.bin'];
  const { step, epoch, stepInEpoch, weightsVersion, rngState, model: spec, layout, config, dataFromArrays } = state;
  const earlyStopping = state.earlyStopping ? { ...state.earlyStopping, bestWeights } : null;
  let topology: object | null = null;
  if (state.taskModel) {
    const m = parseJson(bytes['model.json']).value as { modelTopology?: unknown } | undefined;
    if (!isRecord(m?.modelTopology)) return `${where('model.json')}: no modelTopology`;
    topology = m.modelTopology;
  }
  return {
    checkpoint: name, step, epoch, stepInEpoch, weightsVersion, rngState, model: spec, layout, config, ...(topology ? { topology } : {}), ...(earlyStopping ? { earlyStopping } : {}), ...(dataFromArrays ? { dataFromArrays } : {}),
    weights: floatsOf(bytes['weights.bin'], 0, n), optimizer: { t: state.optimizer.t, state: Array.from({ length: k }, (_, i) => floatsOf(opt, i * n, n)) },
  };
}

type StateJson = Omit<TrainingState, 'weights' | 'optimizer' | 'topology' | 'earlyStopping'> & {
  optimizer: { t: number; vectors: number }; taskModel?: boolean; earlyStopping?: Omit<EarlyStoppingState, 'bestWeights'> & { bestWeights: boolean };
};

function parseState(buf: Buffer, name: string): StateJson | string {
  const { value: o, problem } = parseJson(buf);
  if (!isRecord(o)) return problem ?? 'not a JSON object';
  if (!READABLE_VERSIONS.includes(o.formatVersion as number)) return `format version ${JSON.stringify(o.formatVersion)}, this build reads ${READABLE_VERSIONS.join(' and ')}`;
  // A checkpoint written before the optimiser was a setting holds Adam's t, and its m and v.
  if (o.optimizer === undefined && isRecord(o.adam)) o.optimizer = { t: o.adam.t, vectors: 2 };
  const opt = isRecord(o.optimizer) ? o.optimizer : {};
  for (const [k, v] of [['step', o.step], ['epoch', o.epoch], ['stepInEpoch', o.stepInEpoch], ['weightsVersion', o.weightsVersion], ['optimizer.t', opt.t], ['optimizer.vectors', opt.vectors]] as const) {
    if (!isCount(v)) return `${k}: expected an integer >= 0, got ${JSON.stringify(v)}`;
  }
  if (checkpointName(o.step as number) !== name) return `step ${o.step as number} does not match the directory name`;
  if (!isCount(o.rngState) || o.rngState > 0xffffffff) return `rngState: expected a uint32, got ${JSON.stringify(o.rngState)}`;
  if (!isRecord(o.config)) return 'config: expected an object';
  const m = o.model as Record<string, unknown> | undefined;
  const hiddenOk = isRecord(m) && Array.isArray(m.hidden) && m.hidden.every((h) => isRecord(h) && isCount(h.units) && h.units > 0 && ACTIVATIONS.includes(h.activation as string));
  if (!hiddenOk || !isCount(m.inputSize) || !isCount(m.numClasses) || m.inputSize < 1 || m.numClasses < 1) return 'model: not a valid model spec';
  if (o.earlyStopping !== undefined) {
    const e = o.earlyStopping;
    const ok = isRecord(e) && typeof e.monitor === 'string' && (e.best === null || Number.isFinite(e.best)) && Number.isInteger(e.bestEpoch) && (e.bestEpoch as number) >= -1
      && isCount(e.wait) && typeof e.bestWeights === 'boolean';
    if (!ok) return 'earlyStopping: not an early stopping state';
  }
  if (o.dataFromArrays !== undefined && o.dataFromArrays !== true) return `dataFromArrays: expected true, got ${JSON.stringify(o.dataFromArrays)}`;
  if (o.taskModel === true) {
    const problem = isRecord(o.layout) && Array.isArray(o.layout.params) ? contiguityProblem(o.layout as unknown as ParamLayout) : 'not a layout';
    if (problem) return `layout: ${problem}`;
  } else if (JSON.stringify(o.layout) !== JSON.stringify(paramLayout(m as unknown as ModelSpec))) return 'layout: does not follow from model';
  return o as unknown as StateJson;
}

/** A task model's layout: named parameters, each right after the one before, sized by its shape. */
function contiguityProblem(layout: ParamLayout): string | null {
  let offset = 0;
  for (const p of layout.params) {
    const size = Array.isArray(p.shape) && p.shape.every(isCount) ? p.shape.reduce((a, b) => a * b, 1) : NaN;
    if (typeof p.name !== 'string' || p.offset !== offset || p.size !== size) return `parameter ${JSON.stringify(p.name)} is not where its shape puts it`;
    offset += size;
  }
  return offset === layout.numParams ? null : `${layout.numParams} parameter values, the parameters hold ${offset}`;
}

function layoutDifference(a: ParamLayout, b: ParamLayout, an: string, bn: string): string | null {
  if (a.params.length !== b.params.length) return `${an} has ${a.params.length} parameters, ${bn} ${b.params.length}`;
  for (let i = 0; i < a.params.length; i++) {
    const [p, q] = [a.params[i], b.params[i]];
    if (p.name !== q.name) return `parameter ${i} is ${p.name} in ${an}, ${q.name} in ${bn}`;
    if (p.shape.join() !== q.shape.join()) return `${p.name} has shape [${p.shape.join()}] in ${an}, [${q.shape.join()}] in ${bn}`;
    if (p.offset !== q.offset || p.size !== q.size) return `${p.name} has offset ${p.offset} and size ${p.size} in ${an}, offset ${q.offset} and size ${q.size} in ${bn}`;
  }
  if (a.numParams !== b.numParams) return `${an} has ${a.numParams} parameter values, ${bn} ${b.numParams}`;
  return null;
}

function parseHashes(v: unknown): FileHashes | null {
  const files = isRecord(v) ? v.files : undefined;
  if (!isRecord(files)) return null;
  const hash = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
  return DATA_FILES.every((f) => hash(files[f])) && (files[BEST_WEIGHTS] === undefined || hash(files[BEST_WEIGHTS])) ? (files as FileHashes) : null;
}

/** A checkpoint directory's own checksums, or a problem. */
function readHashes(path: string): FileHashes | string {
  const json = readJson(join(path, CHECKSUMS));
  return json.problem ?? parseHashes(json.value) ?? 'no sha256 for every file';
}

function readPointer(dir: string): { checkpoint: string; files: FileHashes } | string {
  const json = readJson(join(dir, POINTER));
  if (json.problem) return json.problem;
  const checkpoint = (json.value as Record<string, unknown>)?.checkpoint;
  const files = parseHashes(json.value);
  if (typeof checkpoint !== 'string' || !CHECKPOINT_NAME.test(checkpoint) || !files) return 'not a checkpoint pointer';
  return { checkpoint, files };
}

const sameHashes = (a: FileHashes | string, b: FileHashes) => typeof a !== 'string' && [...DATA_FILES, BEST_WEIGHTS as typeof BEST_WEIGHTS].every((f) => a[f] === b[f]);

// ---- files -----------------------------------------------------------------------------

/** After a crash while ckpt-X was replaced, keep the copy latest.json commits to as ckpt-X. */
function settleReplacements(dir: string): void {
  const pointer = readPointer(dir);
  for (const e of readdirSync(dir)) {
    if (!e.startsWith(ASIDE)) continue;
    const name = e.slice(ASIDE.length);
    const final = join(dir, name);
    const newCommitted = existsSync(final) && typeof pointer !== 'string' && pointer.checkpoint === name && sameHashes(readHashes(final), pointer.files);
    if (newCommitted) {
      retire(dir, join(dir, e));
      continue;
    }
    if (existsSync(final)) retire(dir, final);
    renameSync(join(dir, e), final);
    fsyncDir(dir);
  }
}

/** Removes a directory so that a crash half-way leaves only a `.tmp-*` name, never a partial checkpoint. */
function retire(dir: string, path: string): void {
  const gone = join(dir, `${TMP}retired-${basename(path)}-${process.pid}`);
  rmSync(gone, { recursive: true, force: true }); // left by a crashed process that had our pid
  renameSync(path, gone);
  rmSync(gone, { recursive: true, force: true });
}

const WRITE_FAULTS = parseWriteFaults(process.env.TRAINER_WRITE_FAULTS);

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** The .bin files are little-endian and written straight from the Float32Arrays. */
function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new CheckpointError('checkpoints need a little-endian machine (the .bin files are float32 LE)');
}
