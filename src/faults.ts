// Test-only fault injection, read by workers from the TRAINER_FAULTS environment
// variable (worker threads inherit the environment). Format: comma-separated
// `kind@step:shard`, kind one of throw | exit | hang | nan; a trailing `!` fires on every
// attempt (to exhaust --max-retries), otherwise only on the first. Example:
//   TRAINER_FAULTS='exit@7:1,hang@12:0,throw@20:1!'

export const FAULT_KINDS = ['throw', 'exit', 'hang', 'nan'] as const;
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
    const m = /^(throw|exit|hang|nan)@(\d+):(\d+)(!?)$/.exec(item.trim());
    if (!m) throw new Error(`TRAINER_FAULTS: cannot read "${item}" (expected kind@step:shard, kind throw|exit|hang|nan)`);
    return { kind: m[1] as FaultKind, step: Number(m[2]), shard: Number(m[3]), always: m[4] === '!' };
  });
}

/** The fault to inject into this task, if any. */
export function faultFor(faults: Fault[], step: number, shard: number, attempt: number): FaultKind | null {
  const f = faults.find((x) => x.step === step && x.shard === shard && (x.always || attempt === 0));
  return f ? f.kind : null;
}
