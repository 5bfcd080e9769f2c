// The package as a user gets it: `npm pack`, installed into a fresh project outside the
// repository. An ESM program imports train() and trains; a TypeScript file type-checks
// against the declarations under moduleResolution nodenext, and an unknown option is a
// type error; the bin trains and prints the report; one copy of tfjs-core is installed;
// and the library never loads the chart libraries.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/files/paths.js';
import { tmpDir } from '../helpers.js';

const run = (cmd: string, args: string[], cwd: string) => spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20 });
const tsc = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
// TypeScript 7 (the native compiler; \`npm i -D typescript\` installs it today), as the devDependency alias typescript7.
const tsc7 = join(PROJECT_ROOT, 'node_modules', 'typescript7', 'bin', 'tsc');

describe('the packed package in a fresh project', () => {
  const project = tmpDir('pack-user-');

  it('installs from the tarball (dist was built by pretest; packing does not rebuild under running tests)', () => {
    const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', project], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim().split('\n').at(-1)!;
    expect(tarball).toMatch(/^tfjs-parallel-trainer-[\d.]+\.tgz$/);
    expect(run('npm', ['init', '-y'], project).status).toBe(0);
    const install = run('npm', ['install', `./${tarball}`, '@types/node@20', '--no-audit', '--no-fund', '--prefer-offline'], project);
    expect(install.status, install.stderr).toBe(0);
    // One copy of TF.js: the trainer's are peer dependencies, shared with the user's.
    const copies = run('npm', ['ls', '@tensorflow/tfjs-core', '--all', '--parseable'], project).stdout.trim().split('\n').filter(Boolean);
    expect(copies).toHaveLength(1);
  });

  it('an ESM program imports train() and trains', () => {
    writeFileSync(join(project, 'main.mjs'), `
import { train } from 'tfjs-parallel-trainer';
const r = await train({ limit: 1280, epochs: 1 });
console.log(JSON.stringify({ epochs: r.history.epoch, loss: r.history.history.loss, odd: r.eval.train.odd.accuracy, params: r.weights.length }));
`);
    const r = run(process.execPath, ['main.mjs'], project);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { epochs: number[]; loss: number[]; odd: number; params: number };
    expect(out.epochs).toEqual([0]);
    expect(out.loss[0]).toBeGreaterThan(0);
    expect(out.odd).toBeGreaterThan(0.5);
    expect(out.params).toBe(50890);
  });

  it('TypeScript type-checks against it under nodenext, and an unknown option is a type error', () => {
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'] },
      files: ['good.mts'],
    }));
    writeFileSync(join(project, 'good.mts'), `
import { train, ConfigError } from 'tfjs-parallel-trainer';
import type { TrainResult } from 'tfjs-parallel-trainer';
const r: TrainResult = await train({ workers: 2, epochs: 1, data: { dir: './idx' }, callbacks: { onEpochEnd: (epoch, logs) => console.log(epoch, logs.loss) } });
const odd: number = r.eval!.train!.odd.accuracy;
// A task module's report: its loss with no cast; the class report after narrowing.
const t = await train({ task: './my-task.mjs', epochs: 1 });
const loss: number = t.eval!.test!.loss;
const test = t.eval!.test!;
const acc: number | null = 'accuracy' in test ? test.accuracy : null;
console.log(loss, acc);
const e = new ConfigError('x');
const code: 'E_CONFIG' = e.code;
console.log(odd, code, r.layout.numParams);
`);
    const good = run(process.execPath, [tsc, '-p', 'tsconfig.json'], project);
    expect(good.status, good.stdout).toBe(0);
    writeFileSync(join(project, 'bad.mts'), `
import { train } from 'tfjs-parallel-trainer';
await train({ wokers: 2 });
`);
    const bad = run(process.execPath, [tsc, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--strict', '--noEmit', '--types', 'node', 'bad.mts'], project);
    expect(bad.status).not.toBe(0);
    // Every overload of train() (the built-in task's, a task's, either) names the option.
    expect(bad.stdout).toMatch(/^bad\.mts\(3,15\): error TS2769/);
    expect(bad.stdout).toMatch(/'wokers' does not exist in type 'TrainOptions<SplitReport>.*Did you mean to write 'workers'\?/);
  });

  it('a task module typed with TaskModule type-checks under TypeScript 5 and 7 (strict, no skipLibCheck, no @tensorflow/tfjs), a mistyped one does not, and compiled it trains', () => {
    expect(existsSync(join(project, 'node_modules', '@tensorflow', 'tfjs'))).toBe(false);
    writeFileSync(join(project, 'tsconfig.task.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, types: ['node'], outDir: 'built' },
      files: ['task.mts'],
    }));
    writeFileSync(join(project, 'task.mts'), `
import type { TaskModule } from 'tfjs-parallel-trainer';
type Task = TaskModule;
export const numClasses: Task['numClasses'] = 10;
export const labelWidth: Task['labelWidth'] = 11;
export const label: Task['label'] = (digit, out) => { out[digit] = 1; out[10] = digit % 2; };
export const model: Task['model'] = ({ tf, inputShape, numClasses }) => tf.sequential({
  layers: [tf.layers.flatten({ inputShape }), tf.layers.dense({ units: numClasses, activation: 'softmax' })],
});
export const loss: Task['loss'] = ({ tf }, yTrue, yPred) =>
  tf.mul(tf.neg(tf.sum(tf.mul(yTrue.slice([0, 0], [-1, 10]), tf.log(tf.clipByValue(yPred, 1e-7, 1))), -1)), yTrue.slice([0, 10], [-1, 1]).reshape([-1]));
export const metrics: Task['metrics'] = { accuracy: 'accuracy', odd: ({ tf }, yTrue) => tf.reshape(tf.slice(yTrue, [0, 10], [-1, 1]), [-1]) };
`);
    for (const compiler of [tsc, tsc7]) {
      const r = run(process.execPath, [compiler, '-p', 'tsconfig.task.json', '--noEmit'], project);
      expect(r.status, `${compiler}: ${r.stdout}`).toBe(0);
    }
    // The types say something: a label of the wrong type, an unknown built-in metric.
    writeFileSync(join(project, 'bad-task.mts'), `
import type { TaskModule } from 'tfjs-parallel-trainer';
export const label: TaskModule['label'] = (digit: string, out) => { out[0] = 1; };
export const metrics: TaskModule['metrics'] = ['accurcy'];
`);
    writeFileSync(join(project, 'tsconfig.bad.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, types: ['node'], noEmit: true },
      files: ['bad-task.mts'],
    }));
    for (const compiler of [tsc, tsc7]) {
      const r = run(process.execPath, [compiler, '-p', 'tsconfig.bad.json'], project);
      expect(r.status).not.toBe(0);
      expect(r.stdout).toMatch(/bad-task\.mts\(3,\d+\): error TS2322/);
      expect(r.stdout).toMatch(/bad-task\.mts\(4,\d+\): error TS2820: Type '"accurcy"' is not assignable to type .*Did you mean '"accuracy"'\?/);
    }
    // Compiled to an ES module, it trains on the worker threads.
    const built = run(process.execPath, [tsc, '-p', 'tsconfig.task.json'], project);
    expect(built.status, built.stdout).toBe(0);
    const r = run('npx', ['--no-install', 'tfjs-parallel-trainer', 'train', '--task', 'built/task.mjs', '--limit', '640', '--epochs', '1'], project);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^== training set: 640 rows, accuracy 0\.\d{4}, mean loss \d+\.\d{4}, accuracy 0\.\d{4}, odd 0\.\d{4}$/m);
    // A .ts file is refused in one line that says how to run it.
    const ts = run('npx', ['--no-install', 'tfjs-parallel-trainer', 'train', '--task', 'task.mts'], project);
    expect(ts.status).toBe(2);
    expect(ts.stderr.trim()).toMatch(/^error: --task task\.mts: a TypeScript task module must be compiled to a JavaScript ES module first \(tsc to a \.mjs/);
  });

  it('npx tfjs-parallel-trainer train trains and prints the report; the command answers --help', () => {
    const r = run('npx', ['--no-install', 'tfjs-parallel-trainer', 'train', '--workers', '2', '--limit', '1280', '--epochs', '1'], project);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('== test set: 10000 rows');
    expect(r.stdout).toContain('"event":"run_end"');
    const help = run('npx', ['--no-install', 'tfjs-parallel-trainer', '--help'], project);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: tfjs-parallel-trainer <command>/);
    const unknown = run('npx', ['--no-install', 'tfjs-parallel-trainer', 'fit'], project);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr.trim()).toBe('error: "fit": unknown command (expected one of train, eval, predict, report, profile; see --help)');
  });

  it('the library never loads vega or vega-lite (they are removed here, and train() still runs)', () => {
    for (const dep of ['vega', 'vega-lite']) rmSync(join(project, 'node_modules', dep), { recursive: true, force: true });
    const r = run(process.execPath, ['main.mjs'], project);
    expect(r.status, r.stderr).toBe(0);
  });
});
