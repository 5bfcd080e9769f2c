import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './dist/src/model/mlp.js';
import { GeneralModel } from './dist/src/model/general.js';
import { resolveSettings } from './dist/src/run/config.js';
import { planRunModel, taskOf } from './dist/src/run/model-plan.js';
import { builtinMnistDir, loadIdxDataset } from './dist/src/data/idx.js';
const mnistData = () => loadIdxDataset(builtinMnistDir(), 10);
const config = resolveSettings({ engine: 'general' });
const data = mnistData();
const task = await taskOf(config, 784);
const run = await planRunModel(config, data, task);
await initBackend('wasm');
const g = await GeneralModel.create(run.topology, run.layout, task, false);
const w = new Float32Array(run.layout.numParams); run.init(w);
const rows = Number(process.argv[2] ?? 64);
const x = new Float32Array(rows * 784).map(() => Math.random());
const y = new Float32Array(rows * 11); for (let r = 0; r < rows; r++) { y[r * 11 + (r % 10)] = 1; y[r * 11 + 10] = r % 2; }
const slab = new Float32Array(run.layout.numParams);
const time = (f, n) => { const t = performance.now(); for (let i = 0; i < n; i++) f(); return (performance.now() - t) / n; };
for (let i = 0; i < 300; i++) { g.setWeights(w); g.gradient(rows, x, y, slab); }
const tw = time(() => g.setWeights(w), 500);
const tg = time(() => { g.setWeights(w); g.gradient(rows, x, y, slab); }, 500);
console.log({ rows, setWeightsMs: tw.toFixed(3), stepMs: tg.toFixed(3), tensors: tf.memory().numTensors });
// breakdown with profile
const prof = await tf.profile(() => { g.setWeights(w); g.gradient(rows, x, y, slab); });
const byKernel = {};
for (const k of prof.kernels) byKernel[k.name] = (byKernel[k.name] ?? 0) + 1;
console.log(prof.kernels.length, JSON.stringify(byKernel));
const times = {};
for (const k of prof.kernels) times[k.name] = (times[k.name] ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0);
console.log(Object.entries(times).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', '));
console.log(prof.kernels.filter(k=>k.name==='BatchMatMul').map(k => `${k.inputShapes.map(s=>'['+s+']').join('x')} ${typeof k.kernelTimeMs==='number'?k.kernelTimeMs.toFixed(3):k.kernelTimeMs}`).join('; '));
