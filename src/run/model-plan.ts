// Which task a run trains (the path it takes is src/paths/registry.ts's choice), with
// the checks of settings that only the built-in task understands.
import { builtinLoaded, loadTask } from '../task/load.js';
import type { LoadedTask } from '../task/load.js';
import { ConfigError } from '../settings/config.js';
import { isSet } from './checks.js';
import type { Config } from '../settings/config.js';

/** The built-in task's spec from a config and the data's row size. */
const builtinSpec = (config: Config, inputSize: number) => ({ inputSize, hidden: config.model.hidden, numClasses: config.model.numClasses, mask: config.mask });

/** The task module of `config.task` (imported and its exports checked), or the built-in task. */
export async function taskOf(config: Config, inputSize: number): Promise<LoadedTask> {
  if (!config.task) return builtinLoaded(builtinSpec(config, inputSize));
  const task = await loadTask(config.task, config.mask);
  checkTaskSettings(config, task);
  return task;
}

/**
 * Settings only the built-in task understands are refused with a task module, naming
 * the setting; so is --normalize weight with a task that has no weight export.
 */
function checkTaskSettings(config: Config, task: LoadedTask): void {
  const refuse = (flag: string, why: string) => new ConfigError(`${flag}: ${why} (--task ${task.name})`);
  if (config.engine === 'fast') throw refuse('--engine fast', 'only the built-in task has the fast path; a task module trains on the general path');
  if (isSet(config, 'model')) throw refuse('model', "is the built-in task's model; a task module builds its own in model()");
  if (config.normalize === 'condition') throw refuse('--normalize condition', "is the built-in task's; a task module's sample weights are --normalize weight");
  if (config.normalize === 'weight' && !task.module.weight) throw refuse('--normalize weight', 'the module has no weight export');
  if (task.ownLabel && isSet(config, 'mask')) throw refuse('--mask', 'fills only the default label; the module has its own label export');
}
