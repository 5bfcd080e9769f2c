// Runs TensorFlow.js kernels directly: the backend's own kernel functions (XNNPACK
// matmuls and all on wasm), looked up in tfjs-core's kernel registry and called the way
// kernels call each other inside TensorFlow.js, without the engine in between.
//
// Why: a training step of the MLP is ~30 small kernels, and the engine's bookkeeping
// around each (Tensor objects, scopes, tidy, memory tracking, profiling hooks) costs
// JavaScript time on every step, plus the JIT warm-up of all that JavaScript: V8
// compiled 268 functions with TurboFan (654 ms of compile time, counted with
// `node --trace-opt`) over 1,500 engine-path steps of one thread, on background
// threads that share the two cores with the workers. `npm run bench:kernels` runs one
// 64-row shard both ways side by side; it measured 0.63 ms per step direct against 0.72
// through the engine (0.87x), 154 ms against 233 ms for the first 150 steps (0.66x),
// and 0.88 against 1.12 ms of process CPU per step, with identical gradients.
//
// What it costs: tensors made here are not engine tensors, so they are freed by hand
// (`release`), and leaks are counted on the backend (`heldBuffers`), not by tf.memory().
import * as tf from '@tensorflow/tfjs-core';

export type Info = tf.TensorInfo;

/** A view of the same buffer under another shape (a reshape without a kernel). */
export function reshaped(t: Info, shape: number[]): Info {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/** Every buffer the current backend holds, engine tensors and direct ones alike. */
export function heldBuffers(): number {
  return tf.engine().backend.numDataIds();
}

export class Kernels {
  private readonly backend = tf.engine().backend;
  private readonly backendName = tf.getBackend();
  private readonly funcs = new Map<string, tf.KernelFunc>();
  private readonly live: Info[] = [];
  // On wasm, a tensor's values can be read in place from the module's heap.
  private readonly heap = (this.backend as unknown as { typedArrayFromHeap?: (t: Info) => Float32Array }).typedArrayFromHeap;

  /** Runs kernel `name` of the current backend; the output is freed by the next release(). */
  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): Info {
    let f = this.funcs.get(name);
    if (!f) {
      const config = tf.getKernel(name, this.backendName);
      if (!config) throw new Error(`the ${this.backendName} backend has no ${name} kernel`);
      f = config.kernelFunc;
      this.funcs.set(name, f);
    }
    const out = f({ inputs, backend: this.backend, attrs }) as Info;
    this.live.push(out);
    return out;
  }

  /** A float32 tensor holding a copy of `values`; freed by the next release(). */
  input(values: Float32Array, shape: number[]): Info {
    const t = { dataId: this.backend.write(values, shape, 'float32'), shape, dtype: 'float32' as const };
    this.live.push(t);
    return t;
  }

  /** Copies a float32 tensor's values into `dst` (from the wasm heap in place: no fresh array per read). */
  read(t: Info, dst: Float32Array): void {
    if (this.heap) dst.set(this.heap.call(this.backend, t));
    else dst.set(this.backend.readSync(t.dataId) as Float32Array);
  }

  /** The first value of a tensor (a scalar's value). */
  scalar(t: Info): number {
    return this.heap ? this.heap.call(this.backend, t)[0] : (this.backend.readSync(t.dataId) as Float32Array)[0];
  }

  /** A marker for release(): tensors made after it are freed, those before it kept. */
  mark(): number {
    return this.live.length;
  }

  /** Frees every tensor made since `mark` (default: all of them). */
  release(mark = 0): void {
    for (let i = this.live.length - 1; i >= mark; i--) this.backend.disposeData(this.live[i].dataId);
    this.live.length = mark;
  }
}
