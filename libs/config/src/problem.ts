import { ERR, HookgateError } from '@hookgate/contracts';

export interface ConfigProblem {
  /** Key path like `scanners.clamav.endpoint`, or the variable name for an environment value. */
  path: string;
  reason: string;
}

export class ConfigError extends HookgateError {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[], source: string) {
    super(
      ERR.CONFIG_INVALID,
      `invalid configuration (${source}):\n${problems.map((p) => `  - ${p.path}: ${p.reason}`).join('\n')}`,
    );
    this.problems = problems;
  }
}
