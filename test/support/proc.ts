/**
 * Processes as Linux's /proc shows them: CPU time, parent, title. Benchmarks use these to charge CPU to each
 * daemon (a filter, its engine, Redis, Postfix) rather than to the machine as a whole.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: the unit of the tick counts in /proc/PID/stat (100 on every Linux build we run on). */
const TICK_MS = 1000 / 100;

export interface ProcStat {
  pid: number;
  ppid: number;
  /** User + system CPU of the process (all its threads), ms. */
  cpuMs: number;
  /** User + system CPU of its children that have exited and been waited for, ms. */
  childrenCpuMs: number;
}

/** The process's /proc/PID/stat, or undefined once it has gone. */
export function procStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields restart after the last ')'.
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { pid, ppid: f[1]!, cpuMs: (f[11]! + f[12]!) * TICK_MS, childrenCpuMs: (f[13]! + f[14]!) * TICK_MS };
}

/** The process's argv joined by spaces (daemons that rename themselves show their title here). */
export function procTitle(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Live child processes of `pid` (a scan of /proc: this kernel has no /proc/PID/task/TID/children). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (procStat(Number(name))?.ppid === pid) out.push(Number(name));
  }
  return out;
}

/**
 * CPU of a whole process tree, ms: the process, every live descendant and every descendant that has exited and
 * been reaped (through `childrenCpuMs`). Differences of two readings stay right while children come and go, as
 * Postfix's smtpd and cleanup processes do: a child's time moves from "live" to its parent's reaped total.
 */
export function treeCpuMs(pid: number): number {
  const self = procStat(pid);
  if (!self) return 0;
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(Number(name));
    if (s) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), s.pid]);
  }
  const sum = (p: number): number => {
    const s = procStat(p);
    if (!s) return 0;
    return s.cpuMs + s.childrenCpuMs + (byParent.get(p) ?? []).reduce((a, c) => a + sum(c), 0);
  };
  return sum(self.pid);
}
