/**
 * A Docker engine for tests: the machine's own when one answers, else a private dockerd (Debian's docker.io;
 * overlay2 storage where overlays mount, else vfs; no bridge, no iptables) whose data and exec roots live under a
 * cache directory that survives between runs, so the stand-in base image and BuildKit's cache are reused. A
 * private engine is stopped by pid at the end.
 *
 * One run at a time uses the cache directory: a lock file holds the owning test process's pid, and a second run
 * waits for the first to finish (a lock left by a dead process is taken over, as is the dockerd it left running).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { alive } from './daemons.js';
import { ensureDebian } from './netns.js';

/** Where a private engine keeps its images and build cache (HOOKGATE_TEST_DOCKER_DIR overrides). */
export const DOCKER_CACHE_DIR = process.env.HOOKGATE_TEST_DOCKER_DIR ?? '/var/cache/hookgate-test-docker';
/** Every container the tests create carries this label, so leftovers of an interrupted run can be removed. */
export const TEST_LABEL = 'io.hookgate.test=image';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Piped into stdin. */
  stdin?: NodeJS.ReadableStream;
  timeoutMs?: number;
  /** Resolve with a non-zero exit instead of throwing. */
  allowFail?: boolean;
}

/** Runs a command to completion without blocking the event loop (builds take minutes). */
export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: o.cwd,
      env: o.env ?? process.env,
      stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    if (o.stdin) o.stdin.pipe(child.stdin!);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += String(b)));
    child.stderr!.on('data', (b: Buffer) => (stderr += String(b)));
    const timer = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const r = { code, stdout, stderr, ms: Date.now() - t0 };
      if (code === 0 || o.allowFail) return resolve(r);
      const why = signal
        ? `killed by ${signal}${o.timeoutMs ? ` (timeout ${o.timeoutMs} ms?)` : ''}`
        : `exit ${code}`;
      reject(new Error(`${cmd} ${args.join(' ')}: ${why}\n${tail(stderr || stdout, 40)}`));
    });
  });
}

export const tail = (text: string, lines: number): string =>
  text.trimEnd().split('\n').slice(-lines).join('\n');

/**
 * The Docker CLI: Debian's (docker.io), whose 20.10 client builds with the daemon's built-in BuildKit; a newer
 * client elsewhere on PATH needs the buildx plugin for that, which Debian 12 does not package.
 */
function dockerCli(): string {
  return existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
}

/** The Docker CLI bound to one engine. */
export class Docker {
  readonly cli = dockerCli();
  constructor(readonly host: string) {}

  /** Environment for docker and docker-compose: this engine, BuildKit, and the engine's helpers on PATH. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      DOCKER_HOST: this.host,
      DOCKER_BUILDKIT: '1',
      PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ''}`,
      ...extra,
    };
  }

  run(args: string[], o: RunOptions = {}): Promise<RunResult> {
    return run(this.cli, args, { ...o, env: this.env(o.env) });
  }

  async answers(): Promise<boolean> {
    return (
      (await this.run(['version', '--format', '{{.Server.Version}}'], { allowFail: true, timeoutMs: 10_000 }))
        .code === 0
    );
  }

  /** `docker inspect` of one object, or undefined when it does not exist. */
  async inspect<T = Record<string, unknown>>(
    what: 'image' | 'container',
    name: string,
  ): Promise<T | undefined> {
    const r = await this.run([what, 'inspect', name], { allowFail: true });
    if (r.code !== 0) return undefined;
    return (JSON.parse(r.stdout) as T[])[0];
  }

  /** Removes every container the tests created (running or not) and images the last build left untagged. */
  async cleanup(imageLabel: string): Promise<void> {
    const ids = (await this.run(['ps', '-aq', '--filter', `label=${TEST_LABEL}`])).stdout
      .split(/\s+/)
      .filter(Boolean);
    if (ids.length) await this.run(['rm', '-f', '-v', ...ids], { allowFail: true });
    await this.run(['image', 'prune', '-f', '--filter', `label=${imageLabel}`], { allowFail: true });
  }
}

export interface DockerEngine {
  docker: Docker;
  /** 'system': the machine's engine; 'private': started (or taken over) here, stopped by `stop()`. */
  kind: 'system' | 'private';
  /** Storage driver of a private engine. */
  driver?: string;
  /** Milliseconds it took to get an answering engine. */
  startMs: number;
  stop(): Promise<void>;
}

const lockFile = join(DOCKER_CACHE_DIR, 'lock');

/** Polls `probe` every `everyMs` until true; fails after `timeoutMs` (each probe may start a docker CLI). */
async function poll(
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
  everyMs = 250,
): Promise<void> {
  for (
    const until = Date.now() + timeoutMs;
    !(await probe());
    await new Promise((r) => setTimeout(r, everyMs))
  ) {
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms`);
  }
}

/** Takes the cache directory's lock, waiting for a live owner to finish (up to `waitMs`). */
async function lock(waitMs: number): Promise<void> {
  mkdirSync(DOCKER_CACHE_DIR, { recursive: true });
  // The pid is written first and linked into place, so the lock never exists without its owner's pid.
  const mine = `${lockFile}.${process.pid}`;
  writeFileSync(mine, String(process.pid));
  try {
    await poll(
      () => {
        try {
          linkSync(mine, lockFile);
          return true;
        } catch {
          let owner = 0;
          try {
            owner = Number(readFileSync(lockFile, 'utf8').trim());
          } catch {
            return false; // released meanwhile: try again
          }
          if (owner === process.pid) return true;
          if (!alive(owner)) rmSync(lockFile, { force: true }); // left by a dead run
          return false;
        }
      },
      waitMs,
      `the test Docker engine lock ${lockFile} (held by another test run)`,
      1000,
    );
  } finally {
    rmSync(mine, { force: true });
  }
}

function unlock(): void {
  try {
    if (Number(readFileSync(lockFile, 'utf8').trim()) === process.pid) rmSync(lockFile, { force: true });
  } catch {
    // already gone
  }
}

/**
 * An answering engine: DOCKER_HOST when set, else /var/run/docker.sock when it answers, else a private dockerd
 * under DOCKER_CACHE_DIR (needs root). Installs docker.io when dockerd is missing; fails with a clear message when
 * that is not possible, never skips.
 */
export async function dockerEngine(): Promise<DockerEngine> {
  const t0 = Date.now();
  await lock(20 * 60_000);
  try {
    for (const host of [process.env.DOCKER_HOST, 'unix:///var/run/docker.sock']) {
      if (!host || (host.startsWith('unix://') && !existsSync(host.slice(7)))) continue;
      const docker = new Docker(host);
      if (await docker.answers())
        return { docker, kind: 'system', startMs: Date.now() - t0, stop: async () => unlock() };
      if (host === process.env.DOCKER_HOST)
        throw new Error(`DOCKER_HOST=${host} does not answer (docker version failed)`);
    }
    return await privateEngine(t0);
  } catch (err) {
    unlock();
    throw err;
  }
}

async function privateEngine(t0: number): Promise<DockerEngine> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'no Docker engine answers and a private dockerd needs root: run the tests as root, or start Docker (or set DOCKER_HOST)',
    );
  }
  ensureDebian('dockerd', 'docker.io');
  const dir = DOCKER_CACHE_DIR;
  const driver = await storageDriver(dir);
  const socket = join(dir, 'docker.sock');
  const pidFile = join(dir, 'dockerd.pid');
  const docker = new Docker(`unix://${socket}`);
  let child: ChildProcess | undefined;
  const previous = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : 0;
  // A dockerd left running by an interrupted run (we hold the lock, so no live run owns it): take it over.
  if (!(isDockerd(previous) && (await docker.answers()))) {
    if (isDockerd(previous)) process.kill(previous, 'SIGKILL');
    rmSync(pidFile, { force: true });
    const log = openSync(join(dir, 'dockerd.log'), 'w');
    // --bridge=none and --iptables=false: containers use --network host or none, and the machine's firewall and
    // interfaces stay untouched. exec-root holds containerd's sockets: short paths, also under the cache dir. One
    // data root per storage driver (a data root holds one driver's layers).
    child = spawn(
      'dockerd',
      [
        '--storage-driver',
        driver,
        '--iptables=false',
        '--ip-masq=false',
        '--bridge=none',
        '--data-root',
        join(dir, `data-${driver}`),
        '--exec-root',
        join(dir, 'exec'),
        '--pidfile',
        pidFile,
        '-H',
        `unix://${socket}`,
      ],
      { stdio: ['ignore', log, log], env: docker.env(), detached: true },
    );
    closeSync(log);
    child.unref();
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    let gone = false;
    void exited.then(() => (gone = true));
    await poll(
      async () => {
        if (gone)
          throw new Error(
            `dockerd exited at start:\n${tail(readFileSync(join(dir, 'dockerd.log'), 'utf8'), 20)}`,
          );
        return existsSync(socket) && (await docker.answers());
      },
      120_000,
      'dockerd answering',
    );
  }
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const onExit = () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already stopped
    }
  };
  process.once('exit', onExit);
  return {
    docker,
    kind: 'private',
    driver,
    startMs: Date.now() - t0,
    async stop() {
      process.removeListener('exit', onExit);
      if (alive(pid)) {
        process.kill(pid, 'SIGTERM');
        try {
          await poll(() => !alive(pid), 60_000, `dockerd (pid ${pid}) exit`);
        } catch {
          process.kill(pid, 'SIGKILL');
        }
      }
      // dockerd leaves its default network namespace mounted in the exec root.
      await unmountBelow(join(dir, 'exec'));
      unlock();
    },
  };
}

/**
 * overlay2 where the kernel and the cache directory's filesystem can mount overlays (layers shared, a container
 * starts in a second), else vfs (every layer and container a full copy: slow and space-hungry, but works
 * anywhere). HOOKGATE_TEST_DOCKER_STORAGE=vfs|overlay2 chooses.
 */
async function storageDriver(dir: string): Promise<string> {
  const chosen = process.env.HOOKGATE_TEST_DOCKER_STORAGE;
  if (chosen) return chosen;
  const probe = join(dir, 'overlay-probe');
  rmSync(probe, { recursive: true, force: true });
  for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(probe, d), { recursive: true });
  const mounted = await run(
    'mount',
    [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${probe}/lower,upperdir=${probe}/upper,workdir=${probe}/work`,
      `${probe}/merged`,
    ],
    { allowFail: true },
  );
  if (mounted.code === 0) await run('umount', [`${probe}/merged`], { allowFail: true });
  rmSync(probe, { recursive: true, force: true });
  return mounted.code === 0 ? 'overlay2' : 'vfs';
}

/** Unmounts whatever is mounted below `dir` (deepest first), so the directory can be removed. */
export async function unmountBelow(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`));
  for (const m of mounts.sort().reverse()) await run('umount', ['-l', m], { allowFail: true });
}

/** Whether `pid` is a running dockerd (a pidfile's number may have been reused by another process). */
function isDockerd(pid: number): boolean {
  try {
    return pid > 0 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dockerd';
  } catch {
    return false;
  }
}
