// GRU and LSTM layers as one differentiable op per layer and step, instead of the ~150
// engine ops per time step that tfjs-layers runs them as.
//
// Why: tfjs-layers runs a recurrent layer time step by time step through the engine:
// per step and time step a dozen small ops forward (matmuls, splits, adds, the
// activations; hardSigmoid alone is a multiply, an add and a clip), three times as many
// backward, and the gradient tape clones every tensor it saves (an Identity kernel
// each). A GRU(32) over 28 time steps at 64 rows made ~4,400 kernel calls a training
// step, and more than half the step was the engine's and the tape's bookkeeping around
// them (`npm run profile -- --task examples/gru-rows.mjs`).
//
// What this does instead: the layer's call becomes a tf.customGrad op of the input
// sequence and the layer's weights. Forward, the input projection of every time step
// is one matmul; each time step is then one or two matmuls with the recurrent kernel
// (XNNPACK, called directly: src/model/kernels.ts) and the gates computed by a JS loop
// over plain arrays. Backward runs the same time steps in reverse (backpropagation
// through time) and computes the weight gradients as a few large matmuls over all time
// steps at once. The arithmetic is stock tfjs-layers' (the same gate order, the same
// activations and the same derivatives, hardSigmoid's clip boundaries computed in
// float32 as the engine does); only the order of some float additions differs.
// Tested against stock tfjs-layers on the cpu backend, gradients within 1e-5
// (test/unit/fused-layers.test.ts).
//
// What stays on the stock path (the layer keeps its own call): dropout or recurrent
// dropout, returnState, goBackwards, stateful layers, an initial state or a mask
// passed in, activations other than tanh, sigmoid, hardSigmoid, relu and linear.
import * as tf from '@tensorflow/tfjs-core';
import { Kernels } from '../kernels.js';
import type { FusableLayer, LayerCall } from './layer.js';
import type { Info } from '../kernels.js';

type ActivationName = 'tanh' | 'sigmoid' | 'hardSigmoid' | 'relu' | 'linear';
const ACTIVATIONS = new Set<string>(['tanh', 'sigmoid', 'hardSigmoid', 'relu', 'linear']);

/** What this file reads of a tfjs-layers GRU or LSTM layer (not in the public types). */
export interface RecurrentLayer extends FusableLayer {
  returnSequences: boolean;
  returnState: boolean;
  goBackwards: boolean;
  stateful: boolean;
  cell: {
    units: number;
    dropout: number;
    recurrentDropout: number;
    useBias: boolean;
    activation: { getClassName(): string };
    recurrentActivation: { getClassName(): string };
    kernel: { read(): tf.Tensor };
    recurrentKernel: { read(): tf.Tensor };
    bias: { read(): tf.Tensor } | null;
  };
}

/**
 * The fused call for a GRU or LSTM layer whose settings this file implements, else
 * null. At call time, an input that is not one [batch, time, features] tensor, a mask
 * or an initial state passed in go to the layer's own call.
 */
export function fusedRecurrentCall(layer: RecurrentLayer, needsInputGrad: boolean): LayerCall | null {
  const kind = layer.getClassName();
  if ((kind !== 'GRU' && kind !== 'LSTM') || !supported(layer)) return null;
  const stock = layer.call.bind(layer);
  const op = fusedOp({
    kind, units: layer.cell.units, returnSequences: layer.returnSequences, needsInputGrad,
    activation: layer.cell.activation.getClassName() as ActivationName,
    recurrentActivation: layer.cell.recurrentActivation.getClassName() as ActivationName,
  });
  return (inputs, kwargs) => {
    const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : null) : inputs;
    if (!x || x.rank !== 3 || kwargs?.mask != null || kwargs?.initialState != null) return stock(inputs, kwargs);
    const { cell } = layer;
    const weights = [cell.kernel.read(), cell.recurrentKernel.read(), ...(cell.bias ? [cell.bias.read()] : [])];
    return op(x, ...weights);
  };
}

function supported(layer: RecurrentLayer): boolean {
  const { cell } = layer;
  return !layer.returnState && !layer.goBackwards && !layer.stateful && !(cell.dropout > 0) && !(cell.recurrentDropout > 0)
    && ACTIVATIONS.has(cell.activation.getClassName()) && ACTIVATIONS.has(cell.recurrentActivation.getClassName());
}

interface CellSpec {
  kind: 'GRU' | 'LSTM';
  units: number;
  returnSequences: boolean;
  /** False when no trainable layer feeds this one: nothing reads the input's gradient (zeros are returned). */
  needsInputGrad: boolean;
  activation: ActivationName;
  recurrentActivation: ActivationName;
}

/**
 * The arrays of one forward pass and its backward pass, kept for the next step: a step
 * allocates no large arrays, which kept the garbage collector busy (8.7% of a GRU
 * step) and the two workers' threads in each other's way. A forward pass takes a
 * workspace from its layer's pool, and its backward pass gives it back; a forward pass
 * with no backward pass (inference) leaves its workspace to the garbage collector.
 */
class Workspace {
  private readonly arrays = new Map<string, Float32Array>();
  /** The array `name` of `length` values, as the last user left it. */
  get(name: string, length: number): Float32Array {
    let a = this.arrays.get(name);
    if (!a || a.length !== length) this.arrays.set(name, (a = new Float32Array(length)));
    return a;
  }
  /** The array `name`, zeroed. */
  zeros(name: string, length: number): Float32Array {
    return this.get(name, length).fill(0);
  }
}

const F32_02 = Math.fround(0.2);

/** The activation of one value, as the engine computes it (hardSigmoid: 0.2 * x + 0.5 in float32, then clipped). */
function activate(name: ActivationName, x: number): number {
  switch (name) {
    case 'tanh': return Math.tanh(x);
    case 'sigmoid': return 1 / (1 + Math.exp(-x));
    case 'hardSigmoid': return Math.min(1, Math.max(0, hardSigmoidLine(x)));
    case 'relu': return x > 0 ? x : 0;
    case 'linear': return x;
  }
}

const hardSigmoidLine = (x: number) => Math.fround(Math.fround(F32_02 * x) + 0.5);

/** d activation / d x at pre-activation `x` with output `y`, as the engine's gradients define it. */
function derivative(name: ActivationName, x: number, y: number): number {
  switch (name) {
    case 'tanh': return 1 - y * y;
    case 'sigmoid': return y * (1 - y);
    // ClipByValue's gradient passes where min <= v <= max, boundaries included.
    case 'hardSigmoid': { const v = hardSigmoidLine(x); return v >= 0 && v <= 1 ? F32_02 : 0; }
    case 'relu': return x > 0 ? 1 : 0;
    case 'linear': return 1;
  }
}

/**
 * Products of plain arrays on the backend's matmul kernel (XNNPACK on wasm), without
 * the engine. The right operand is a matrix() made once (the same tensor every time
 * step, so XNNPACK packs it once); the left one is copied into a tensor kept for its
 * shape (on wasm, written in place in the heap: no allocation per product).
 */
class MatMul {
  private readonly k = new Kernels();
  private readonly lefts = new Map<string, Info>();
  private readonly backend = tf.engine().backend as unknown as { typedArrayFromHeap?: (t: Info) => Float32Array };

  matrix(values: Float32Array, rows: number, cols: number): Info {
    return this.k.input(values, [1, rows, cols]);
  }

  /** a [m, n] . b ([n, p], a matrix()) into out [m, p]. */
  times(a: Float32Array, m: number, b: Info, out: Float32Array): Float32Array {
    const n = b.shape[1];
    const values = a.subarray(0, m * n);
    const heap = this.backend.typedArrayFromHeap;
    const key = `${m}x${n}`;
    let left = heap ? this.lefts.get(key) : undefined;
    if (heap && !left) {
      left = this.k.input(values, [1, m, n]);
      this.lefts.set(key, left);
    } else if (heap) {
      heap.call(this.backend, left!).set(values);
    }
    const mark = this.k.mark();
    try {
      this.k.read(this.k.run('BatchMatMul', { a: left ?? this.k.input(values, [1, m, n]), b }, { transposeA: false, transposeB: false }), out);
    } finally {
      this.k.release(mark);
    }
    return out;
  }

  release(): void {
    this.k.release();
    this.lefts.clear();
  }
}

/** [rows, cols] -> [cols, rows]. */
function transposed(a: Float32Array, rows: number, cols: number, out: Float32Array = new Float32Array(rows * cols)): Float32Array {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/** Columns [from, to) of a [rows, cols] matrix. */
function columns(a: Float32Array, rows: number, cols: number, from: number, to: number): Float32Array {
  const w = to - from;
  const out = new Float32Array(rows * w); // small: weights
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * cols + from, r * cols + to), r * w);
  return out;
}

/** [batch, time, width] -> [time, batch, width] (and back with the sizes swapped). */
function swapLeading(a: Float32Array, n0: number, n1: number, width: number, out: Float32Array = new Float32Array(n0 * n1 * width)): Float32Array {
  for (let i = 0; i < n0; i++) for (let j = 0; j < n1; j++) out.set(a.subarray((i * n1 + j) * width, (i * n1 + j + 1) * width), (j * n0 + i) * width);
  return out;
}

/** One op per spec: customGrad(x, kernel, recurrentKernel[, bias]). */
function fusedOp(spec: CellSpec) {
  const pool: Workspace[] = [];
  return tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, kernel, recurrent, bias] = args.filter((a): a is tf.Tensor => a instanceof tf.Tensor);
    const [batch, time, inDim] = x.shape;
    const run = spec.kind === 'GRU' ? gruForward : lstmForward;
    const ws = pool.pop() ?? new Workspace();
    const { value, backward } = run(spec, ws, {
      batch, time, inDim,
      x: swapLeading(x.dataSync() as Float32Array, batch, time, inDim, ws.get('x', batch * time * inDim)),
      kernel: kernel.dataSync() as Float32Array, recurrent: recurrent.dataSync() as Float32Array,
      bias: bias ? bias.dataSync() as Float32Array : null,
    });
    return {
      value,
      gradFunc: (dy: tf.Tensor) => {
        const g = backward(dy.dataSync() as Float32Array);
        // Fresh arrays: a tensor on the cpu backend keeps the array it was made from.
        const grads = [
          g.dx ? tf.tensor(swapLeading(g.dx, time, batch, inDim), x.shape) : tf.zeros(x.shape),
          tf.tensor(g.dKernel.slice(), kernel.shape), tf.tensor(g.dRecurrent.slice(), recurrent.shape),
        ];
        if (bias) grads.push(tf.tensor(g.dBias.slice(), bias.shape));
        pool.push(ws);
        return grads;
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
}

interface Sequence {
  batch: number;
  time: number;
  inDim: number;
  /** The input, time-major: [time * batch, inDim]. */
  x: Float32Array;
  kernel: Float32Array;
  recurrent: Float32Array;
  bias: Float32Array | null;
}

interface Gradients {
  /** Time-major, as Sequence.x; null when not needed. */
  dx: Float32Array | null;
  dKernel: Float32Array;
  dRecurrent: Float32Array;
  dBias: Float32Array;
}

/** The layer's output as a tensor: every time step's h ([batch, time, units]) or the last one's. */
function outputOf(spec: CellSpec, s: Sequence, h: Float32Array): tf.Tensor {
  const { units } = spec;
  const step = s.batch * units;
  return spec.returnSequences
    ? tf.tensor(swapLeading(h.subarray(step), s.time, s.batch, units), [s.batch, s.time, units])
    : tf.tensor(h.slice(s.time * step), [s.batch, units]);
}

/** dy as per time step gradients, time-major [time, batch, units] (zeros but the last without returnSequences). */
function outputGrads(spec: CellSpec, ws: Workspace, s: Sequence, dy: Float32Array): Float32Array {
  const length = s.time * s.batch * spec.units;
  if (spec.returnSequences) return swapLeading(dy, s.batch, s.time, spec.units, ws.get('dOut', length));
  const out = ws.zeros('dOut', length);
  out.set(dy, (s.time - 1) * s.batch * spec.units);
  return out;
}

/**
 * The input projection of every time step, x . W + b: [time * batch, gates * units].
 * (tfjs-layers adds the bias to x . W for a GRU, and to x . W + h . U for an LSTM: the
 * same terms, added in another order.)
 */
function inputProjection(mm: MatMul, ws: Workspace, s: Sequence, width: number): Float32Array {
  const rows = s.time * s.batch;
  const xw = mm.times(s.x, rows, mm.matrix(s.kernel, s.inDim, width), ws.get('xw', rows * width));
  if (s.bias) for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) xw[r * width + j] += s.bias[j];
  return xw;
}

/** The weight gradients shared by both cells: dW = x^T . dZ, db = column sums of dZ, dx = dZ . W^T (when needed). */
function inputGrads(mm: MatMul, ws: Workspace, s: Sequence, dz: Float32Array, width: number, needsInputGrad: boolean): Pick<Gradients, 'dx' | 'dKernel' | 'dBias'> {
  const rows = s.time * s.batch;
  const dKernel = mm.times(transposed(s.x, rows, s.inDim, ws.get('xT', rows * s.inDim)), s.inDim, mm.matrix(dz, rows, width), ws.get('dKernel', s.inDim * width));
  const dx = needsInputGrad ? mm.times(dz, rows, mm.matrix(transposed(s.kernel, s.inDim, width), width, s.inDim), ws.get('dx', rows * s.inDim)) : null;
  const dBias = ws.zeros('dBias', width);
  for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) dBias[j] += dz[r * width + j];
  return { dx, dKernel, dBias };
}

/**
 * tfjs-layers' GRUCell (reset gate applied before the recurrent product, no
 * reset_after): z = ra(xz + h.Uz), r = ra(xr + h.Ur), hh = a(xh + (r*h).Uh),
 * h' = z*h + (1-z)*hh.
 */
function gruForward(spec: CellSpec, ws: Workspace, s: Sequence) {
  const { units: u, activation: act, recurrentActivation: ract } = spec;
  const { batch, time } = s;
  const n = batch * u;
  const mm = new MatMul();
  try {
    const xw = inputProjection(mm, ws, s, 3 * u);
    const rk1 = mm.matrix(columns(s.recurrent, u, 3 * u, 0, 2 * u), u, 2 * u);
    const rk2 = mm.matrix(columns(s.recurrent, u, 3 * u, 2 * u, 3 * u), u, u);
    // Per time step, time-major: h (h[0] the zero initial state), the gates and their pre-activations.
    const h = ws.get('h', (time + 1) * n);
    h.fill(0, 0, n);
    const z = ws.get('z', time * n);
    const r = ws.get('r', time * n);
    const hh = ws.get('hh', time * n);
    const pre = ws.get('pre', time * n * 3); // [zp, rp, hp] per row
    const rh = ws.get('rh', time * n);
    const hr = ws.get('hr', batch * 2 * u);
    const rhk = ws.get('rhk', n);
    for (let t = 0; t < time; t++) {
      const prev = h.subarray(t * n, (t + 1) * n);
      mm.times(prev, batch, rk1, hr);
      for (let b = 0; b < batch; b++) {
        const at = (t * batch + b) * 3 * u;
        for (let j = 0; j < u; j++) {
          const i = t * n + b * u + j;
          const zp = Math.fround(xw[at + j] + hr[b * 2 * u + j]);
          const rp = Math.fround(xw[at + u + j] + hr[b * 2 * u + u + j]);
          pre[at + j] = zp;
          pre[at + u + j] = rp;
          z[i] = activate(ract, zp);
          r[i] = activate(ract, rp);
          rh[i] = r[i] * prev[b * u + j];
        }
      }
      mm.times(rh.subarray(t * n, (t + 1) * n), batch, rk2, rhk);
      for (let b = 0; b < batch; b++) {
        const at = (t * batch + b) * 3 * u;
        for (let j = 0; j < u; j++) {
          const i = t * n + b * u + j;
          const hp = Math.fround(xw[at + 2 * u + j] + rhk[b * u + j]);
          pre[at + 2 * u + j] = hp;
          hh[i] = activate(act, hp);
          h[i + n] = z[i] * prev[b * u + j] + (1 - z[i]) * hh[i];
        }
      }
    }
    const value = outputOf(spec, s, h);
    const backward = (dy: Float32Array): Gradients => {
      const bm = new MatMul();
      try {
        const dOut = outputGrads(spec, ws, s, dy);
        const rk1T = bm.matrix(transposed(columns(s.recurrent, u, 3 * u, 0, 2 * u), u, 2 * u), 2 * u, u);
        const rk2T = bm.matrix(transposed(columns(s.recurrent, u, 3 * u, 2 * u, 3 * u), u, u), u, u);
        const dPre = ws.get('dPre', time * n * 3); // d loss / d [zp, rp, hp], time-major rows
        const dzr = ws.get('dzr', time * batch * 2 * u);
        const dhp = ws.get('dhp', time * n);
        const dh = ws.zeros('dh', n);
        const dRh = ws.get('dRh', n);
        const dPrev = ws.get('dPrev', n);
        for (let t = time - 1; t >= 0; t--) {
          const prev = h.subarray(t * n, (t + 1) * n);
          for (let i = 0; i < n; i++) dh[i] += dOut[t * n + i];
          for (let b = 0; b < batch; b++) {
            const at = (t * batch + b) * 3 * u;
            for (let j = 0; j < u; j++) {
              const i = t * n + b * u + j;
              const g = dh[b * u + j];
              dPrev[b * u + j] = g * z[i];
              dPre[at + j] = g * (prev[b * u + j] - hh[i]) * derivative(ract, pre[at + j], z[i]);
              dhp[i] = dPre[at + 2 * u + j] = g * (1 - z[i]) * derivative(act, pre[at + 2 * u + j], hh[i]);
            }
          }
          bm.times(dhp.subarray(t * n, (t + 1) * n), batch, rk2T, dRh);
          for (let b = 0; b < batch; b++) {
            const at = (t * batch + b) * 3 * u;
            const dzrAt = (t * batch + b) * 2 * u;
            for (let j = 0; j < u; j++) {
              const i = t * n + b * u + j;
              dPrev[b * u + j] += dRh[b * u + j] * r[i];
              dPre[at + u + j] = dRh[b * u + j] * prev[b * u + j] * derivative(ract, pre[at + u + j], r[i]);
              dzr[dzrAt + j] = dPre[at + j];
              dzr[dzrAt + u + j] = dPre[at + u + j];
            }
          }
          bm.times(dzr.subarray(t * batch * 2 * u, (t + 1) * batch * 2 * u), batch, rk1T, dh);
          for (let i = 0; i < n; i++) dh[i] += dPrev[i];
        }
        // The recurrent kernel's gradient over every time step at once: [h_{t-1}]^T . [dzp, drp]
        // for its first 2u columns, [r*h_{t-1}]^T . dhp for the last u.
        const rows = time * batch;
        const dRk1 = bm.times(transposed(h.subarray(0, time * n), rows, u, ws.get('hT', rows * u)), u, bm.matrix(dzr, rows, 2 * u), ws.get('dRk1', u * 2 * u));
        const dRk2 = bm.times(transposed(rh, rows, u, ws.get('rhT', rows * u)), u, bm.matrix(dhp, rows, u), ws.get('dRk2', u * u));
        const dRecurrent = ws.get('dRecurrent', u * 3 * u);
        for (let i = 0; i < u; i++) {
          dRecurrent.set(dRk1.subarray(i * 2 * u, (i + 1) * 2 * u), i * 3 * u);
          dRecurrent.set(dRk2.subarray(i * u, (i + 1) * u), i * 3 * u + 2 * u);
        }
        return { ...inputGrads(bm, ws, s, dPre, 3 * u, spec.needsInputGrad), dRecurrent };
      } finally {
        bm.release();
      }
    };
    return { value, backward };
  } finally {
    mm.release();
  }
}

/**
 * tfjs-layers' LSTMCell: [i, f, g, o] pre-activations = x.W + h.U + b; i, f, o through
 * the recurrent activation, g through the activation; c' = f*c + i*g, h' = o*a(c').
 */
function lstmForward(spec: CellSpec, ws: Workspace, s: Sequence) {
  const { units: u, activation: act, recurrentActivation: ract } = spec;
  const { batch, time } = s;
  const n = batch * u;
  const w = 4 * u;
  const mm = new MatMul();
  try {
    const xw = inputProjection(mm, ws, s, w);
    const rk = mm.matrix(s.recurrent, u, w);
    const h = ws.get('h', (time + 1) * n);
    const c = ws.get('c', (time + 1) * n);
    h.fill(0, 0, n);
    c.fill(0, 0, n);
    const ac = ws.get('ac', time * n); // a(c')
    const gates = ws.get('gates', time * batch * w); // [i, f, g, o] after their activations
    const pre = ws.get('pre', time * batch * w);
    const hr = ws.get('hr', batch * w);
    for (let t = 0; t < time; t++) {
      mm.times(h.subarray(t * n, (t + 1) * n), batch, rk, hr);
      for (let b = 0; b < batch; b++) {
        const at = (t * batch + b) * w;
        for (let j = 0; j < w; j++) {
          const p = Math.fround(xw[at + j] + hr[b * w + j]);
          pre[at + j] = p;
          gates[at + j] = activate(j >= 2 * u && j < 3 * u ? act : ract, p);
        }
        for (let j = 0; j < u; j++) {
          const i = t * n + b * u + j;
          const cNew = gates[at + u + j] * c[i] + gates[at + j] * gates[at + 2 * u + j];
          c[i + n] = cNew;
          ac[i] = activate(act, Math.fround(cNew));
          h[i + n] = gates[at + 3 * u + j] * ac[i];
        }
      }
    }
    const value = outputOf(spec, s, h);
    const backward = (dy: Float32Array): Gradients => {
      const bm = new MatMul();
      try {
        const dOut = outputGrads(spec, ws, s, dy);
        const rkT = bm.matrix(transposed(s.recurrent, u, w), w, u);
        const dPre = ws.get('dPre', time * batch * w);
        const dh = ws.zeros('dh', n);
        const dc = ws.zeros('dc', n);
        for (let t = time - 1; t >= 0; t--) {
          for (let i = 0; i < n; i++) dh[i] += dOut[t * n + i];
          for (let b = 0; b < batch; b++) {
            const at = (t * batch + b) * w;
            for (let j = 0; j < u; j++) {
              const i = t * n + b * u + j;
              const ig = gates[at + j];
              const fg = gates[at + u + j];
              const gg = gates[at + 2 * u + j];
              const og = gates[at + 3 * u + j];
              const g = dh[b * u + j];
              const dC = dc[b * u + j] + g * og * derivative(act, Math.fround(c[i + n]), ac[i]);
              dPre[at + j] = dC * gg * derivative(ract, pre[at + j], ig);
              dPre[at + u + j] = dC * c[i] * derivative(ract, pre[at + u + j], fg);
              dPre[at + 2 * u + j] = dC * ig * derivative(act, pre[at + 2 * u + j], gg);
              dPre[at + 3 * u + j] = g * ac[i] * derivative(ract, pre[at + 3 * u + j], og);
              dc[b * u + j] = dC * fg;
            }
          }
          bm.times(dPre.subarray(t * batch * w, (t + 1) * batch * w), batch, rkT, dh);
        }
        const rows = time * batch;
        const dRecurrent = bm.times(transposed(h.subarray(0, time * n), rows, u, ws.get('hT', rows * u)), u, bm.matrix(dPre, rows, w), ws.get('dRecurrent', u * w));
        return { ...inputGrads(bm, ws, s, dPre, w, spec.needsInputGrad), dRecurrent };
      } finally {
        bm.release();
      }
    };
    return { value, backward };
  } finally {
    mm.release();
  }
}
