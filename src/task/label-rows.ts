// Every row's combined label, built once on the coordinator into shared memory: the
// task's label() of each class (the built-in task: one-hot + the --mask condition), or
// the combined labels that came with the data.
import type { Dataset } from '../data/types.js';
import { DataError } from '../data/types.js';
import { TaskError } from './contract.js';
import { firstLine } from './load.js';
import type { LoadedTask } from './load.js';

/** Every row's combined label by the task's label(), once, into shared memory (a TaskError names a row that fails). */
export function buildLabelRows(task: LoadedTask, data: Dataset, numTrain: number): { trainY: SharedArrayBuffer; testY: SharedArrayBuffer } {
  const w = task.labelWidth;
  const trainY = new SharedArrayBuffer(numTrain * w * 4);
  const testY = new SharedArrayBuffer(data.test.count * w * 4);
  const given = data.train.labelRows;
  if (given) {
    // Combined labels that came with the data are used as they are.
    if (given.width !== w) throw new DataError(`${data.dir ?? 'data'}: the combined labels have ${given.width} columns; ${task.name === 'built-in' ? 'the built-in task' : task.name} has labelWidth ${w}`);
    new Float32Array(trainY).set(given.values.subarray(0, numTrain * w));
    if (data.test.labelRows) new Float32Array(testY).set(data.test.labelRows.values);
    return { trainY, testY };
  }
  fillLabelRows(task, data.train.labels.subarray(0, numTrain), new Float32Array(trainY));
  fillLabelRows(task, data.test.labels, new Float32Array(testY));
  return { trainY, testY };
}

/**
 * Every row's combined label, built once into `out` ([labels.length, labelWidth]) by
 * the task's label(); a throw or a non-finite value names the row and the class.
 */
export function fillLabelRows(task: LoadedTask, labels: Uint8Array, out: Float32Array): void {
  const w = task.labelWidth;
  for (let i = 0; i < labels.length; i++) {
    const row = out.subarray(i * w, (i + 1) * w);
    try {
      task.label(labels[i], row);
    } catch (e) {
      if (e instanceof TaskError) throw e;
      throw new TaskError(`${task.name}: export "label" threw for class ${labels[i]} (data row ${i}): ${firstLine(e)}`);
    }
    for (let k = 0; k < w; k++) {
      if (!Number.isFinite(row[k])) throw new TaskError(`${task.name}: export "label" wrote ${row[k]} at column ${k} for class ${labels[i]} (data row ${i})`);
    }
  }
}
