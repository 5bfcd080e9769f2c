#!/usr/bin/env node
// `tfjs-parallel-trainer <command> [flags]`, the package's one command (its `bin`), and
// what the npm scripts run: train, eval, predict, report. Each command is loaded only
// when asked for, so `report`'s chart libraries load for report alone.
const COMMANDS = {
  train: () => import('./train.js'),
  eval: () => import('./eval.js'),
  predict: () => import('./predict.js'),
  report: () => import('./report.js'),
  profile: () => import('./profile.js'),
} as const;

const USAGE = `Usage: tfjs-parallel-trainer <command> [flags]

Commands:
  train     train data-parallel on worker threads (the seed experiment by default)
  eval      the seed's report for a checkpoint
  predict   class probabilities of IDX images from a checkpoint
  report    SVG charts and an index.html of a training run's log
  profile   one training step of a model, timed kernel by kernel

tfjs-parallel-trainer <command> --help lists the command's flags.
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (name === '--help' || name === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, name)) {
    process.stderr.write(`error: "${name}": unknown command (expected one of ${Object.keys(COMMANDS).join(', ')}; see --help)\n`);
    return 2;
  }
  const command = await COMMANDS[name as keyof typeof COMMANDS]();
  return command.main(rest);
}

// The bin runs this file through a symbolic link (node_modules/.bin), so it runs
// unconditionally. process.exit, not exitCode: a worker thread that did not end when the
// pool was shut down must not keep the process alive (every log write is synchronous).
process.exit(await main(process.argv.slice(2)));
