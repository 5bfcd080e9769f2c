// Times every kernel registered for a backend: each one is unregistered and registered
// again wrapped in a timer, under its own name, so the engine, autodiff, the direct
// kernel calls of the fast path (src/model/kernels.ts) and kernels that call other
// kernels through the registry (src/model/wasm-kernels/) all go through the wrapper.
// Not timed apart: a stock kernel that a replacement holds on to and calls itself (the
// plain BatchMatMul inside the transposing one, the stock Conv2DBackpropInput it falls
// back to): its time is the replacement's own.
// Kernel times nest (a replacement kernel calls Transpose, Conv2D, ...): `totalMs` is a
// kernel's time with what it calls, `selfMs` without, so the self times add up to the
// time spent in kernels and the rest of a step is the engine, the tape and our code.
import * as tf from '@tensorflow/tfjs-core';

export interface KernelStat {
  name: string;
  calls: number;
  /** Wall time inside the kernel, including the kernels it called. */
  totalMs: number;
  /** Wall time inside the kernel, excluding the kernels it called. */
  selfMs: number;
}

export class KernelTimer {
  private readonly stats = new Map<string, KernelStat>();
  private readonly originals: tf.KernelConfig[] = [];
  /** Per open kernel call: the time its nested kernel calls took. */
  private readonly childMs: number[] = [];

  /**
   * Wraps every kernel of `backendName`; call after the backend is initialised (set-up
   * functions have run). `byShape`: one line per kernel and input shapes, which tells
   * the layers apart (Conv2D([64,28,28,1], [3,3,1,8]) is the first convolution).
   */
  constructor(private readonly backendName: string, private readonly byShape = false) {
    for (const config of tf.getKernelsForBackend(backendName)) {
      this.originals.push(config);
      tf.unregisterKernel(config.kernelName, backendName);
      tf.registerKernel({ ...config, kernelFunc: this.wrap(config.kernelName, config.kernelFunc) });
    }
  }

  private wrap(name: string, kernelFunc: tf.KernelFunc): tf.KernelFunc {
    const byName: KernelStat = { name, calls: 0, totalMs: 0, selfMs: 0 };
    this.stats.set(name, byName);
    return (args) => {
      const stat = this.byShape ? this.statOf(`${name}(${Object.values(args.inputs).map((t) => `[${t?.shape}]`).join(', ')})`) : byName;
      this.childMs.push(0);
      const t0 = performance.now();
      try {
        return kernelFunc(args);
      } finally {
        const ms = performance.now() - t0;
        const children = this.childMs.pop()!;
        stat.calls++;
        stat.totalMs += ms;
        stat.selfMs += ms - children;
        if (this.childMs.length > 0) this.childMs[this.childMs.length - 1] += ms;
      }
    };
  }

  private statOf(key: string): KernelStat {
    let s = this.stats.get(key);
    if (!s) this.stats.set(key, (s = { name: key, calls: 0, totalMs: 0, selfMs: 0 }));
    return s;
  }

  /** Forgets what was counted so far (the warm-up steps). */
  reset(): void {
    for (const s of this.stats.values()) s.calls = s.totalMs = s.selfMs = 0;
  }

  /** The kernels that were called, slowest (self time) first. */
  results(): KernelStat[] {
    return [...this.stats.values()].filter((s) => s.calls > 0).map((s) => ({ ...s })).sort((a, b) => b.selfMs - a.selfMs);
  }

  /** Puts the original kernels back. */
  uninstall(): void {
    for (const config of this.originals) {
      tf.unregisterKernel(config.kernelName, this.backendName);
      tf.registerKernel(config);
    }
    this.originals.length = 0;
  }
}
