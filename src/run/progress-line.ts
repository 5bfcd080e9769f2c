// A single live progress line on stderr (epoch, step of total, loss, samples/s, ETA),
// redrawn in place at most ten times a second. Only when stderr is a terminal: in CI
// logs and pipes it stays off, and the NDJSON on stdout is never touched.

export class ProgressLine {
  private lastDraw = 0;
  private lossSum = 0;
  private lossN = 0;
  private readonly startedAt = performance.now();

  private constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly firstStep: number,
    private readonly totalSteps: number,
    private readonly stepsPerEpoch: number,
    private readonly epochs: number,
    private readonly batchSize: number,
  ) {}

  /** A progress line on stderr, or null when stderr is not a terminal. */
  static forStderr(firstStep: number, totalSteps: number, stepsPerEpoch: number, epochs: number, batchSize: number): ProgressLine | null {
    return process.stderr.isTTY ? new ProgressLine(process.stderr, firstStep, totalSteps, stepsPerEpoch, epochs, batchSize) : null;
  }

  /** Called after every step; draws only when 100 ms have passed since the last draw. */
  update(completed: number, loss: number): void {
    this.lossSum += loss;
    this.lossN++;
    const now = performance.now();
    if (now - this.lastDraw < 100 && completed < this.totalSteps) return;
    this.lastDraw = now;
    const done = completed - this.firstStep;
    const perSec = done / ((now - this.startedAt) / 1000);
    const eta = perSec > 0 ? (this.totalSteps - completed) / perSec : 0;
    const epoch = Math.min(this.epochs, Math.floor((completed - 1) / this.stepsPerEpoch) + 1);
    const line = `epoch ${epoch}/${this.epochs}  step ${completed}/${this.totalSteps}  loss ${(this.lossSum / this.lossN).toFixed(4)}` +
      `  ${Math.round(perSec * this.batchSize).toLocaleString('en-US')} samples/s  ETA ${formatSeconds(eta)}`;
    this.lossSum = 0;
    this.lossN = 0;
    this.out.write(`\r${line.slice(0, (this.out.columns || 120) - 1)}\x1b[K`);
  }

  /** Clears the line so the report that follows starts on a clean one. */
  done(): void {
    this.out.write('\r\x1b[K');
  }
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}
