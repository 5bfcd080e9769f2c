// Test-only fault injection, read by workers from the TRAINER_FAULTS environment
// variable (worker threads inherit the environment). Format: comma-separated
// `kind@step:shard`, kind one of throw | exit | hang | nan | hangupdate (hangs in the
// update phase with --clip-norm, after the gradient, before its slice of the reduced
// gradient is marked written); a trailing `!` fires on every
// attempt (to exhaust --max-retries), otherwise only on the first. Example:
//   TRAINER_FAULTS='exit@7:1,hang@12:0,throw@20:1!'
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { blockFor } from './step-channel.js';

export const FAULT_KINDS = ['throw', 'exit', 'hang', 'nan', 'hangupdate'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  step: number;
  shard: number;
  always: boolean;
}

export function parseFaults(spec: string | undefined): Fault[] {
  if (!spec) return [];
  return spec.split(',').map((item) => {
    const m = /^(throw|exit|hang|nan|hangupdate)@(\d+):(\d+)(!?)$/.exec(item.trim());
    if (!m) throw new Error(`TRAINER_FAULTS: cannot read "${item}" (expected kind@step:shard, kind ${FAULT_KINDS.join('|')})`);
    return { kind: m[1] as FaultKind, step: Number(m[2]), shard: Number(m[3]), always: m[4] === '!' };
  });
}

/** The fault to inject into this task, if any. */
export function faultFor(faults: Fault[], step: number, shard: number, attempt: number): FaultKind | null {
  const f = faults.find((x) => x.step === step && x.shard === shard && (x.always || attempt === 0));
  return f ? f.kind : null;
}

// Test-only write failures at a checkpoint, read by the coordinator from the
// TRAINER_WRITE_FAULTS environment variable. Format: comma-separated `CODE@step[:file]`:
// writing `file` (default weights.bin; any file of the checkpoint format, latest.json
// included) of the checkpoint of global step `step` fails with the OS error CODE, as the
// real write would (ENOSPC, EIO, EROFS, EACCES, ...). Example:
//   TRAINER_WRITE_FAULTS='ENOSPC@40:optimizer.bin'

export interface WriteFault {
  code: string;
  step: number;
  file: string;
}

export function parseWriteFaults(spec: string | undefined): WriteFault[] {
  if (!spec) return [];
  return spec.split(',').map((item) => {
    const m = /^(E[A-Z]+)@(\d+)(?::([\w.-]+))?$/.exec(item.trim());
    if (!m) throw new Error(`TRAINER_WRITE_FAULTS: cannot read "${item}" (expected CODE@step[:file], e.g. ENOSPC@40:optimizer.bin)`);
    return { code: m[1], step: Number(m[2]), file: m[3] ?? 'weights.bin' };
  });
}

/** Throws the injected OS error if writing `file` of the checkpoint of `step` should fail. */
export function injectWriteFault(faults: WriteFault[], step: number, file: string): void {
  const f = faults.find((x) => x.step === step && x.file === file);
  if (f) throw Object.assign(new Error(`${f.code}: injected write fault, write`), { code: f.code, syscall: 'write' });
}

// Test-only: TRAINER_HOLD='phase:ms' makes the coordinator, on entering `phase`, write
// `hold: phase` to stderr and then block for `ms` (a synchronous wait, as a slow disk or
// a long kernel would), so a test can deliver a signal inside that phase. Phases:
// loading, checkpointing, evaluating, failing, closing.

export const HOLD_PHASES = ['loading', 'checkpointing', 'evaluating', 'failing', 'closing'] as const;
export type HoldPhase = (typeof HOLD_PHASES)[number];

const holdSpec = (() => {
  const spec = process.env.TRAINER_HOLD;
  if (!spec) return null;
  const m = /^(\w+):(\d+)$/.exec(spec.trim());
  if (!m || !(HOLD_PHASES as readonly string[]).includes(m[1])) {
    throw new Error(`TRAINER_HOLD: cannot read "${spec}" (expected phase:ms, phase one of ${HOLD_PHASES.join(', ')})`);
  }
  return { phase: m[1] as HoldPhase, ms: Number(m[2]) };
})();

export function hold(phase: HoldPhase): void {
  if (holdSpec?.phase !== phase) return;
  process.stderr.write(`hold: ${phase}\n`);
  blockFor(holdSpec.ms);
}

// Test-only: TRAINER_GC_STEPS=N makes every worker collect its garbage in full (a major
// GC) every N steps of its own, before it reads its memory for that step's record, and
// the coordinator at each epoch's end, so that `npm run soak` measures the memory a run keeps, not the garbage V8 has
// not collected yet (V8 lets old-generation garbage build up for many epochs before a
// major GC: the per-worker heap in use rose by ~0.3 MB an epoch between collections and
// fell back to 13.9 MB after each; a full collection every epoch held it at 13.6-13.9 MB
// over 30 epochs). Not for real runs: it costs a collection's pause.

const gcSteps = (() => {
  const spec = process.env.TRAINER_GC_STEPS;
  if (!spec) return 0;
  if (!/^[1-9]\d*$/.test(spec.trim())) throw new Error(`TRAINER_GC_STEPS: cannot read "${spec}" (expected a number of steps)`);
  return Number(spec);
})();

let gcCalls = 0;
let fullGc: (() => void) | undefined;

/** A full garbage collection every TRAINER_GC_STEPS calls (one a step); nothing when it is not set. */
export function collectGarbageEvery(): void {
  if (gcSteps > 0 && ++gcCalls % gcSteps === 0) collectGarbage();
}

/** A full garbage collection now, when TRAINER_GC_STEPS is set (the coordinator, at each epoch's end). */
export function collectGarbage(): void {
  if (gcSteps === 0) return;
  fullGc ??= exposedGc();
  fullGc();
}

/** V8's gc(), which worker threads cannot get from --expose-gc: the flag is set at run time and gc read from a new context. */
function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
