// `tfjs-parallel-trainer profile` (npm run profile): one shard's training step of the
// run the same flags would start, timed kernel by kernel (src/profile/profile.ts).
import { pathToFileURL } from 'node:url';
import { ConfigError, HelpRequested, resolveConfig } from '../settings/config.js';
import { prepareRun } from '../run/prepare.js';
import { formatProfile, profileStep } from '../profile/profile.js';
import { intFlag, runCommand } from './command.js';

export const HELP = `Usage: tfjs-parallel-trainer profile [profile flags] [training flags]
       (in this repository: npm run profile -- [flags])

Runs one worker's training step of the model the training flags describe (the built-in
task, or --task MODULE), in one thread, on the backend and model path a run would use,
and times every kernel: calls per step, time per step with and without the kernels it
calls, and the time outside kernels (the TF.js engine, the gradient tape, the trainer's
own code). Writes nothing; prints a table (or JSON) on stdout.

Profile flags:
  --rows N      rows of the profiled step (default: one worker's shard, batch-size / workers
                rounded up; a micro-shard with --deterministic)
  --steps N     timed steps (default 50)
  --warmup N    untimed steps first, for the JIT and the backend's caches (default 20)
  --top N       show the N slowest kernels (default: all)
  --by-shape    one line per kernel and input shapes: tells the layers apart
  --json        print the result as one JSON object instead of the table

Training flags: those of \`train --help\` (--task, --batch-size, --workers, --backend,
--engine, --data, --config, ...).
`;

const OWN = { rows: 'string', steps: 'string', warmup: 'string', top: 'string', json: 'boolean', 'by-shape': 'boolean' } as const;

/** Splits argv into the profile's own flags and the training flags. */
function splitArgv(argv: string[]): { own: Record<string, string | boolean>; rest: string[] } {
  const own: Record<string, string | boolean> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith('--') ? argv[i].slice(2).split(/=(.*)/s) : [''];
    const type = OWN[flag as keyof typeof OWN];
    if (!type) rest.push(argv[i]);
    else if (type === 'boolean') own[flag] = true;
    else if (inline !== undefined) own[flag] = inline;
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) own[flag] = argv[++i];
    else throw new ConfigError(`--${flag}: needs a value`);
  }
  return { own, rest };
}

async function run(argv: string[]): Promise<void> {
  if (argv.includes('--help')) throw new HelpRequested();
  const { own, rest } = splitArgv(argv);
  const opts = {
    rows: own.rows === undefined ? undefined : intFlag(own, 'rows', 0),
    steps: intFlag(own, 'steps', 50),
    warmup: intFlag(own, 'warmup', 20, 0),
    byShape: own['by-shape'] === true,
  };
  const top = intFlag(own, 'top', Number.MAX_SAFE_INTEGER);
  const prepared = await prepareRun((base, crossChecks) => resolveConfig(rest, base, crossChecks), undefined);
  const result = await profileStep(prepared, opts);
  process.stdout.write(own.json ? `${JSON.stringify(result)}\n` : formatProfile(result, top));
}

export function main(argv: string[]): Promise<number> {
  return runCommand(HELP, () => run(argv));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exit(await main(process.argv.slice(2)));
}
