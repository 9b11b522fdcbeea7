/**
 * Test hosts on one machine: each "host" is a Linux network namespace with one veth into a bridge that lives in a
 * dedicated "switch" namespace, on a private 10.x.y.0/24 network. The root namespace (the test process, which is
 * also the load generator) gets one veth into the same bridge, so it reaches every host and nothing else changes
 * on the machine. Needs root and `ip` (Debian's iproute2, installed here if missing).
 *
 * Every namespace, veth and process made here is removed by `lab.destroy()`, also from a process 'exit' hook, so
 * a failed or interrupted run leaves nothing behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { waitUntil } from './daemons.js';

function sh(cmd: string, args: string[], what = `${cmd} ${args.join(' ')}`): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

function hasCommand(name: string): boolean {
  return (
    spawnSync('sh', ['-c', `command -v ${name} || test -x /usr/sbin/${name}`], { stdio: 'ignore' }).status ===
    0
  );
}

/** Installs Debian packages for missing commands (as root); a clear error when that is not possible. */
export function ensureDebian(command: string, pkg: string): void {
  if (hasCommand(command)) return;
  if (process.getuid?.() !== 0)
    throw new Error(`${command} is missing: apt-get install ${pkg} (as root), or run the tests as root`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', pkg],
  ]) {
    const r = spawnSync('apt-get', args, { encoding: 'utf8', env });
    if (r.status !== 0)
      throw new Error(`${command} is missing and "apt-get ${args.join(' ')}" failed: ${r.stderr}`);
  }
  if (!hasCommand(command)) throw new Error(`${command} still missing after installing ${pkg}`);
}

/** Network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2. */
export function requireNetns(): void {
  if (process.getuid?.() !== 0)
    throw new Error('the multi-host test needs root: it creates network namespaces, veth pairs and a bridge');
  ensureDebian('ip', 'iproute2');
  const probe = `hgprobe-${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      `cannot create a network namespace here ("ip netns add" failed: ${r.stderr.trim()}); the container needs CAP_SYS_ADMIN`,
    );
  spawnSync('ip', ['netns', 'del', probe]);
}

/** A process running inside a host's namespace. */
export interface NsProcess {
  child: ChildProcess;
  host: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** Sends a signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface Host {
  name: string;
  /** The namespace name (`ip netns exec <ns> ...`). */
  ns: string;
  ip: string;
  /** The veth end in the switch namespace: the host's "cable". */
  port: string;
  /** Starts `cmd` in this namespace; resolves once `ready` matches its stderr or stdout (or at once without it). */
  start(
    cmd: string,
    args: string[],
    options?: { env?: Record<string, string>; ready?: RegExp; timeoutMs?: number },
  ): Promise<NsProcess>;
  /** Runs a command in this namespace to completion. */
  run(cmd: string, args: string[]): string;
  /** SIGKILL every process in the namespace: the host dies. */
  killAll(): Promise<void>;
  /** Unplugs (down) or plugs (up) the host's cable at the switch. */
  link(state: 'up' | 'down'): void;
}

export interface Lab {
  id: string;
  /** `10.a.b` of the lab's /24. */
  net: string;
  /** The root namespace's address on the lab network (the test process, load generator). */
  rootIp: string;
  hosts: Map<string, Host>;
  addHost(name: string, lastOctet: number): Host;
  destroy(): void;
}

const live = new Set<Lab>();
process.once('exit', () => {
  for (const lab of live) lab.destroy();
});
// A test run stopped by a signal still removes its namespaces, then dies of that signal as it would have.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const lab of live) lab.destroy();
    process.kill(process.pid, signal);
  });
}

/** Picks a 10.x.y.0/24 that no interface or route of the root namespace uses. */
function freeSubnet(): string {
  const used = sh('ip', ['-4', 'addr']) + sh('ip', ['-4', 'route']);
  for (;;) {
    const [a, b] = randomBytes(2);
    const net = `10.${100 + (a! % 150)}.${b!}`;
    if (!used.includes(`${net}.`)) return net;
  }
}

/**
 * Creates the switch namespace with its bridge and plugs the root namespace into it. Add hosts with `addHost`.
 */
export function createLab(): Lab {
  requireNetns();
  const id = randomBytes(2).toString('hex');
  const net = freeSubnet();
  const sw = `hgmh-${id}-switch`;
  const rootIf = `hg${id}r`;
  const namespaces: string[] = [];
  const procs = new Set<ChildProcess>();
  const hosts = new Map<string, Host>();

  const addNs = (ns: string) => {
    sh('ip', ['netns', 'add', ns]);
    namespaces.push(ns);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  };

  let destroyed = false;
  const lab: Lab = {
    id,
    net,
    rootIp: `${net}.1`,
    hosts,
    addHost(name, lastOctet) {
      const ns = `hgmh-${id}-${name}`;
      const port = `hg${id}p${lastOctet}`;
      const ip = `${net}.${lastOctet}`;
      addNs(ns);
      sh('ip', ['link', 'add', port, 'netns', sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh('ip', ['-n', sw, 'link', 'set', port, 'master', 'br0', 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      const host: Host = {
        name,
        ns,
        ip,
        port,
        run: (cmd, args) => sh('ip', ['netns', 'exec', ns, cmd, ...args]),
        async start(cmd, args, options = {}) {
          const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
            env: {
              PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
              HOME: process.env.HOME ?? '/tmp',
              ...options.env,
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          procs.add(child);
          let out = '';
          let err = '';
          child.stdout!.on('data', (b) => (out += String(b)));
          child.stderr!.on('data', (b) => (err += String(b)));
          const exited = new Promise<number | null>((resolve) =>
            child.once('exit', (code) => {
              procs.delete(child);
              resolve(code);
            }),
          );
          if (options.ready) {
            const ready = options.ready;
            await waitUntil(
              () => {
                if (child.exitCode !== null || child.signalCode !== null)
                  throw new Error(
                    `${cmd} ${args.join(' ')} on ${name} exited (${child.exitCode ?? child.signalCode}) before ready:\n${err}\n${out}`,
                  );
                return ready.test(err) || ready.test(out);
              },
              options.timeoutMs ?? 30_000,
              `${cmd} on ${name}`,
            );
          }
          return {
            child,
            host: name,
            stdout: () => out,
            stderr: () => err,
            exited,
            stop(signal = 'SIGTERM') {
              if (child.exitCode === null && child.signalCode === null) child.kill(signal);
              return exited;
            },
          };
        },
        async killAll() {
          const pids = sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter(Boolean).map(Number);
          for (const pid of pids) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
          await waitUntil(
            () => sh('ip', ['netns', 'pids', ns]).trim() === '',
            10_000,
            `processes of ${name} gone`,
          );
        },
        link(state) {
          sh('ip', ['-n', sw, 'link', 'set', port, state]);
        },
      };
      hosts.set(name, host);
      return host;
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      live.delete(lab);
      for (const c of procs) c.kill('SIGKILL');
      for (const ns of namespaces) {
        // Any process still inside (clamd, haproxy children) dies with its host.
        const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
          .stdout.split(/\s+/)
          .filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      for (const ns of [...namespaces].reverse()) spawnSync('ip', ['netns', 'del', ns]);
      // Deleting the switch namespace removed the root veth's peer, and with it the root veth; make sure.
      spawnSync('ip', ['link', 'del', rootIf], { stdio: 'ignore' });
    },
  };
  live.add(lab);
  try {
    addNs(sw);
    sh('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
    sh('ip', ['link', 'add', rootIf, 'type', 'veth', 'peer', 'name', `hg${id}s`, 'netns', sw]);
    sh('ip', ['-n', sw, 'link', 'set', `hg${id}s`, 'master', 'br0', 'up']);
    sh('ip', ['addr', 'add', `${lab.rootIp}/24`, 'dev', rootIf]);
    sh('ip', ['link', 'set', rootIf, 'up']);
  } catch (err) {
    lab.destroy();
    throw err;
  }
  return lab;
}

/** True once a TCP connection to host:port succeeds (from the root namespace). */
export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Every lab namespace still present (for the cleanup check). */
export function labNamespaces(id?: string): string[] {
  return sh('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(id ? `hgmh-${id}-` : 'hgmh-'));
}
