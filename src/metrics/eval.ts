// The evaluation's figures from labels and predicted classes: the seed's report
// (accuracy on odd- and even-labelled rows with a confusion matrix each, bincounts of
// true and predicted labels, accuracy by condition and per class) and a task's (the
// same plus its mean loss, the whole confusion matrix and the weighted split). Pure
// functions, no TensorFlow.js; report/eval-report.ts formats them for people.

export interface GroupReport {
  rows: number;
  accuracy: number;
  /** confusion[true][predicted] over the group's rows. */
  confusion: number[][];
}

export interface SplitReport {
  rows: number;
  accuracy: number;
  odd: GroupReport;
  even: GroupReport;
  /** Rows whose condition column is 1 (the rows the loss trains on) and 0. */
  condition1: { rows: number; accuracy: number };
  condition0: { rows: number; accuracy: number };
  perClassAccuracy: number[];
  trueCounts: number[];
  predCounts: number[];
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);
const matrix = (n: number): number[][] => Array.from({ length: n }, () => new Array<number>(n).fill(0));

export function evalReport(labels: Uint8Array, predictions: Uint8Array, cond: Uint8Array, numClasses: number): SplitReport {
  const odd = matrix(numClasses);
  const even = matrix(numClasses);
  const trueCounts = new Array<number>(numClasses).fill(0);
  const predCounts = new Array<number>(numClasses).fill(0);
  const classCorrect = new Array<number>(numClasses).fill(0);
  const c = { rows: [0, 0], correct: [0, 0] };
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    const p = predictions[i];
    const hit = y === p ? 1 : 0;
    (y % 2 === 1 ? odd : even)[y][p]++;
    trueCounts[y]++;
    predCounts[p]++;
    classCorrect[y] += hit;
    correct += hit;
    c.rows[cond[i]]++;
    c.correct[cond[i]] += hit;
  }
  const group = (m: number[][]): GroupReport => {
    let rows = 0;
    let diag = 0;
    m.forEach((row, y) => row.forEach((n, p) => { rows += n; if (y === p) diag += n; }));
    return { rows, accuracy: ratio(diag, rows), confusion: m };
  };
  return {
    rows: labels.length,
    accuracy: ratio(correct, labels.length),
    odd: group(odd),
    even: group(even),
    condition1: { rows: c.rows[1], accuracy: ratio(c.correct[1], c.rows[1]) },
    condition0: { rows: c.rows[0], accuracy: ratio(c.correct[0], c.rows[0]) },
    perClassAccuracy: classCorrect.map((n, k) => ratio(n, trueCounts[k])),
    trueCounts,
    predCounts,
  };
}

/**
 * A task module's report of one split: the built-in report's fields (classes from the
 * first numClasses output columns; `odd`/`even` group the rows by the parity of their
 * class; `condition1`/`condition0` are the rows whose weight is > 0 and 0, or all rows
 * and none without a weight export), plus the task's mean loss and the whole confusion
 * matrix.
 */
export interface TaskSplitReport extends SplitReport {
  /** The task's mean loss: the loss sum over the split divided as --normalize divides a batch's. */
  loss: number;
  /** confusion[true][predicted] over every row. */
  confusion: number[][];
  /** With a weight export: accuracy on the rows whose weight is > 0 and on those whose weight is 0 (condition1 and condition0). */
  weighted?: { rows: number; accuracy: number };
  unweighted?: { rows: number; accuracy: number };
  /** Each metric the task exports, its mean over the split (weighted by the task's sample weights when it exports them). */
  metrics?: Record<string, number>;
}

export function taskReport(labels: Uint8Array, predictions: Uint8Array, weights: Float32Array | null, numClasses: number, loss: number): TaskSplitReport {
  const counted = weights ? Uint8Array.from(weights, (w) => (w > 0 ? 1 : 0)) : new Uint8Array(labels.length).fill(1);
  const base = evalReport(labels, predictions, counted, numClasses);
  const confusion = base.odd.confusion.map((row, i) => row.map((v, j) => v + base.even.confusion[i][j]));
  return { ...base, loss, confusion, ...(weights ? { weighted: base.condition1, unweighted: base.condition0 } : {}) };
}

/** A task's report of one split when its output has no class columns to read (a regression, say): the mean loss. */
export interface LossReport {
  rows: number;
  /** The task's mean loss: the loss sum over the split divided as --normalize divides a batch's. */
  loss: number;
  /** Each metric the task exports, its mean over the split (weighted by the task's sample weights when it exports them). */
  metrics?: Record<string, number>;
}

/** What the evaluation reports of a split: the seed's report, a task's with class columns, or a task's mean loss. */
export type EvalReport = SplitReport | TaskSplitReport | LossReport;
