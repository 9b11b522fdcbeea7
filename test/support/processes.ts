/**
 * Runs the built `hookgate` executable as a child process, the way operators run it. Waits for its startup lines
 * on stderr (readiness, not time).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './daemons.js';

/** The repository root: found upwards, since this file also runs compiled from test/.bench-dist. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'services/hookgate/bin/hookgate.js'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

export const HOOKGATE_BIN = join(repoRoot(), 'services/hookgate/bin/hookgate.js');

export interface HookgateProcess {
  child: ChildProcess;
  /** Base URL of the ingress, when the role has one. */
  url?: string;
  stderr(): string;
  stdout(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export function writeConfig(yaml: string): string {
  const path = join(tempDir('cfg'), 'hookgate.yaml');
  writeFileSync(path, yaml);
  return path;
}

/** Node options for the children only, from HOOKGATE_CHILD_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile a bench). */
function childNodeArgs(): string[] {
  return process.env.HOOKGATE_CHILD_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
}

export interface StartOptions {
  /** Soft and hard open-file limit of the process (`ulimit -n`), as a systemd unit's LimitNOFILE would set it. */
  fileLimit?: number;
}

export async function startHookgate(
  args: string[],
  env: Record<string, string>,
  ready: RegExp = /^hookgate: ready$/m,
  options: StartOptions = {},
): Promise<HookgateProcess> {
  // The shell lowers the limit, then exec replaces it: the child's pid is hookgate's own.
  const [cmd, argv] =
    options.fileLimit === undefined
      ? [process.execPath, [...childNodeArgs(), HOOKGATE_BIN, ...args]]
      : [
          'bash',
          [
            '-c',
            `ulimit -n ${options.fileLimit} && exec "$0" "$@"`,
            process.execPath,
            ...childNodeArgs(),
            HOOKGATE_BIN,
            ...args,
          ],
        ];
  const child = spawn(cmd, argv, {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      HOOKGATE_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stdout!.on('data', (b) => (out += String(b)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer) => {
      err += String(b);
      if (ready.test(err)) {
        resolve();
      }
    };
    child.stderr!.on('data', onData);
    void exited.then((code) =>
      reject(new Error(`hookgate ${args.join(' ')} exited with ${code} before ready:\n${err}\n${out}`)),
    );
  });
  const url = /listening on (http:\/\/\S+)/.exec(err)?.[1];
  return {
    child,
    ...(url ? { url } : {}),
    stderr: () => err,
    stdout: () => out,
    exited,
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs hookgate to completion (e.g. `config check`) and returns its exit code and output. */
export function runHookgate(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HOOKGATE_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += String(b)));
    child.stderr.on('data', (b) => (stderr += String(b)));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function postStalwart(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/hooks/stalwart`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
