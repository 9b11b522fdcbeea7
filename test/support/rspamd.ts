/**
 * A private rspamd 3.4 for tests: Debian's stock /etc/rspamd as CONFDIR, test/fixtures/rspamd/local as
 * LOCAL_CONFDIR (network modules off, remote maps replaced), all DNS to a loopback NXDOMAIN stub, normal and
 * controller workers on free loopback ports (the milter proxy is disabled unless `milterProxy` asks for it). Runs
 * in the foreground (`-f`) as this process's child, so `stop()` needs no pidfile.
 *
 * DBDIR is persistent (`${os.tmpdir()}/hookgate-rspamd-db`, or HOOKGATE_RSPAMD_DBDIR): a cold start compiles the
 * TLD list and the hyperscan database (11–17 s on 2 cores); a warm start reuses them (under 1 s). Startups
 * sharing a DBDIR take turns, so parallel test files never compile into it at the same time.
 */
import { repoRoot } from './processes.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  cpSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  requireBinary,
  tempDir,
  waitUntil,
  stopChild,
  alive,
  acceptsConnection,
} from './daemons.js';
import { startDnsStub, type DnsStub } from './dns-stub.js';
import { childPids, procTitle } from './proc.js';

const FIXTURES = join(repoRoot(), 'test/fixtures/rspamd/local');
const RSPAMD_USER = '_rspamd';

export interface RspamdDaemon {
  /** Base URL of the normal (scanning) worker, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** Base URL of the controller worker. */
  controllerUrl: string;
  /** The DNS stub rspamd resolves through: `dns.queries()` shows which lookups a scan made. */
  dns: DnsStub;
  /** rspamd's own log (one line per scan with symbols; never message content). */
  logFile: string;
  /** Milliseconds from spawn to ready: both workers answer `/ping` (and hyperscan is loaded, by default). */
  startMs: number;
  /** With `milterProxy`: Postfix's `smtpd_milters` for rspamd's own milter, e.g. `inet:127.0.0.1:40125`. */
  milterSpec?: string;
  /** The main process; its workers are its children. */
  pid: number;
  /** rspamd's processes by role (`main`, `normal`, `rspamd_proxy`, `controller`, `hs_helper` …), from their titles. */
  processes(): { pid: number; role: string }[];
  stop(): Promise<void>;
}

/** The persistent DBDIR shared by every test run on this machine (warm starts). */
export function rspamdDbDir(): string {
  return process.env.HOOKGATE_RSPAMD_DBDIR ?? join(tmpdir(), 'hookgate-rspamd-db');
}

function userIds(name: string): { uid: number; gid: number } | null {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function chownTree(path: string, ids: { uid: number; gid: number }): void {
  // Only rspamd's writable dirs; the DBDIR may hold a few hundred cache files.
  spawnSync('chown', ['-R', `${ids.uid}:${ids.gid}`, path]);
}

async function pong(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
    return res.ok && (await res.text()).trim() === 'pong';
  } catch {
    return false;
  }
}

const HYPERSCAN_LOADED = /full hyperscan database of \d+ regexps has been loaded/;

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function tail(file: string, lines = 30): string {
  return readText(file).split('\n').slice(-lines).join('\n') || '(no log)';
}

/**
 * Startups sharing the DBDIR take turns (a directory lock with the owner's pid): a second cold start waits for
 * the first to leave a complete cache and then starts warm, instead of two compilers writing the same files.
 */
async function lockDbDir(db: string, timeoutMs: number): Promise<() => void> {
  const lock = `${db}.lock`;
  const owner = join(lock, 'pid');
  await waitUntil(
    () => {
      try {
        mkdirSync(lock);
        writeFileSync(owner, String(process.pid));
        return true;
      } catch {
        const pid = Number(readText(owner).trim());
        if (pid > 0 && !alive(pid)) rmSync(lock, { recursive: true, force: true }); // left by a killed run
        return false;
      }
    },
    timeoutMs,
    `rspamd DBDIR lock ${lock}`,
  );
  return () => rmSync(lock, { recursive: true, force: true });
}

export interface StartRspamdOptions {
  /**
   * Also wait until the full hyperscan database is loaded (default true). Warm, it is loaded before the workers
   * start, so this costs nothing; cold, it waits for hs_helper (about 6 s more) so that the cache left in DBDIR is
   * complete and the next start is warm. Rules work without it (PCRE fallback), only slower.
   */
  hyperscan?: boolean;
  /** Extra LOCAL_CONFDIR files, path → content (e.g. `local.d/actions.conf`), for a test that needs other settings. */
  extraFiles?: Record<string, string>;
  /**
   * Run the proxy worker in milter mode, forwarding each message to the normal worker: rspamd's own milter, the
   * peer that benchmarks compare hookgate's milter with.
   */
  milterProxy?: boolean;
  readyTimeoutMs?: number;
}

/** One proxy process, milter protocol in, the normal worker as its only upstream (`${...}` are rspamd variables). */
const MILTER_PROXY = `# rspamd's own milter: Postfix talks to the proxy, the proxy has the normal worker scan.
bind_socket = "\${HOOKGATE_PROXY}";
milter = yes;
timeout = 120s;
upstream "local" {
  default = yes;
  hosts = "\${HOOKGATE_NORMAL}";
}
count = 1;
`;

/** rspamd titles its processes `rspamd: <role> process (…)`; the main one `rspamd: main process`. */
function roleOf(pid: number): string {
  return /^rspamd: (\S+) process/.exec(procTitle(pid))?.[1] ?? 'unknown';
}

/** Starts a private rspamd; resolves once the normal and controller workers answer `/ping` with `pong`. */
export async function startRspamd(options: StartRspamdOptions = {}): Promise<RspamdDaemon> {
  requireBinary('rspamd', 'rspamd');
  const timeoutMs = options.readyTimeoutMs ?? 90_000;
  const db = rspamdDbDir();
  const unlock = await lockDbDir(db, timeoutMs);
  try {
    return await launch(db, timeoutMs, options);
  } finally {
    unlock();
  }
}

async function launch(db: string, timeoutMs: number, options: StartRspamdOptions): Promise<RspamdDaemon> {
  const [normal, controller, proxy] = [await freePort(), await freePort(), await freePort()];
  const dns = await startDnsStub();
  const dir = tempDir('rspamd');
  let child: ChildProcess | undefined;
  const onExit = () => child?.kill('SIGTERM');
  const cleanup = async () => {
    process.removeListener('exit', onExit);
    if (child) await stopChild(child);
    await dns.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const local = join(dir, 'local');
  const run = join(dir, 'run');
  const logs = join(dir, 'log');
  const logFile = join(logs, 'rspamd.log');
  const stdoutFile = join(logs, 'rspamd.stdout');
  const url = `http://127.0.0.1:${normal}`;
  const controllerUrl = `http://127.0.0.1:${controller}`;
  try {
    cpSync(FIXTURES, local, { recursive: true });
    if (options.milterProxy) writeFileSync(join(local, 'override.d/worker-proxy.inc'), MILTER_PROXY);
    for (const [path, content] of Object.entries(options.extraFiles ?? {}))
      writeFileSync(join(local, path), content);
    for (const d of [run, logs, db]) mkdirSync(d, { recursive: true });
    // Workers run as _rspamd: they must read the config and maps, and write run/log/db.
    chmodSync(dir, 0o755);
    const asRoot = process.getuid?.() === 0;
    const ids = asRoot ? userIds(RSPAMD_USER) : null;
    if (asRoot && !ids)
      throw new Error(`rspamd as root needs the ${RSPAMD_USER} user (Debian package rspamd creates it)`);
    if (ids) for (const d of [run, logs, db]) chownTree(d, ids);
    const out = openSync(stdoutFile, 'a');
    if (ids) chownSync(stdoutFile, ids.uid, ids.gid);
    const args = [
      '-f',
      '-c',
      '/etc/rspamd/rspamd.conf',
      ...(ids ? ['-u', RSPAMD_USER, '-g', RSPAMD_USER] : []),
      `--var=LOCAL_CONFDIR=${local}`,
      `--var=DBDIR=${db}`,
      `--var=RUNDIR=${run}`,
      `--var=LOGDIR=${logs}`,
      `--var=HOOKGATE_NORMAL=127.0.0.1:${normal}`,
      `--var=HOOKGATE_CONTROLLER=127.0.0.1:${controller}`,
      `--var=HOOKGATE_PROXY=127.0.0.1:${proxy}`,
      `--var=HOOKGATE_DNS=${dns.address}`,
    ];
    const started = Date.now();
    // Never hand rspamd a pipe: it keeps the descriptors it is given; a file cannot block it.
    const proc = spawn('rspamd', args, { stdio: ['ignore', out, out] });
    child = proc;
    closeSync(out);
    // If the test process dies without afterAll, do not leave rspamd running.
    process.once('exit', onExit);
    await waitUntil(
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(
            `rspamd exited (${proc.exitCode ?? proc.signalCode}):\n${tail(stdoutFile)}\n${tail(logFile)}`,
          );
        }
        if (!((await pong(url)) && (await pong(controllerUrl)))) return false;
        if (options.milterProxy && !(await acceptsConnection(proxy))) return false;
        return options.hyperscan === false || HYPERSCAN_LOADED.test(readText(logFile));
      },
      timeoutMs,
      'rspamd',
    );
    const pid = proc.pid!;
    return {
      url,
      controllerUrl,
      dns,
      logFile,
      startMs: Date.now() - started,
      ...(options.milterProxy ? { milterSpec: `inet:127.0.0.1:${proxy}` } : {}),
      pid,
      processes: () => [{ pid, role: 'main' }, ...childPids(pid).map((p) => ({ pid: p, role: roleOf(p) }))],
      stop: cleanup,
    };
  } catch (err) {
    const detail = tail(logFile, 15);
    await cleanup();
    throw err instanceof Error && !err.message.startsWith('rspamd exited')
      ? new Error(`${err.message}\n${detail}`)
      : err;
  }
}
