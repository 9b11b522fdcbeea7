/**
 * What the code says, read from the sources at test time, so the deploy checks follow the code as it changes:
 * the hookgate commands, the scanner ids, the environment variables the code reads. Also small parsers the deploy
 * tests share (image references, host:port, Dockerfile, .dockerignore).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KNOWN_ENV } from '../../services/hookgate/src/config.js';
import { SCANNER_IDS } from '../../services/hookgate/src/scanners.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const repoPath = (p: string): string => join(ROOT, p);
export const readRepo = (p: string): string => readFileSync(repoPath(p), 'utf8');
export const existsInRepo = (p: string): boolean => existsSync(repoPath(p));

/**
 * Deployment files may name things other engineers are adding right now. Each entry is allowed while the code does
 * not have it yet and shows up as a `todo` in the test output; once the code has it, it is checked like the rest.
 * Remove entries when they land.
 */
export const PENDING: { commands: readonly string[]; env: readonly string[] } = {
  commands: [],
  env: [],
};

function walk(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** TypeScript sources of every service and lib (not tests, not build output). */
export function codeSources(): { path: string; text: string }[] {
  const files: string[] = [];
  for (const top of ['services', 'libs']) {
    for (const pkg of readdirSync(repoPath(top))) walk(repoPath(`${top}/${pkg}/src`), files);
  }
  return files.map((p) => ({ path: relative(ROOT, p), text: readFileSync(p, 'utf8') }));
}

/**
 * Every HOOKGATE_* variable hookgate knows (its KNOWN_ENV list, `_FILE` variants of secrets included), plus any
 * the code mentions (error codes excluded).
 */
export function hookgateVariables(): Set<string> {
  const names = new Set<string>(KNOWN_ENV);
  for (const { text } of codeSources()) {
    for (const m of text.matchAll(/\bHOOKGATE_[A-Z0-9_]*[A-Z0-9]\b/g))
      if (!m[0].startsWith('HOOKGATE_ERR_')) names.add(m[0]);
  }
  return names;
}

/** OTEL_* variables of the OpenTelemetry SDK specification (hookgate's telemetry passes them to the SDK). */
const OTEL_SPEC =
  /^OTEL_(SDK_DISABLED|RESOURCE_ATTRIBUTES|SERVICE_NAME|LOG_LEVEL|PROPAGATORS|TRACES_SAMPLER(_ARG)?|(TRACES|METRICS|LOGS)_EXPORTER|EXPORTER_OTLP_((TRACES|METRICS|LOGS)_)?(ENDPOINT|PROTOCOL|HEADERS|TIMEOUT|COMPRESSION|INSECURE|CERTIFICATE)|METRIC_EXPORT_(INTERVAL|TIMEOUT)|BSP_[A-Z_]+)$/;

export type VariableVerdict = 'read' | 'pending' | 'unknown';

/** Whether the code reads an environment variable a deployment file sets (only HOOKGATE_* and OTEL_* are judged). */
export function judgeVariable(name: string, read: Set<string>): VariableVerdict {
  if (name.startsWith('HOOKGATE_')) {
    if (read.has(name)) return 'read';
    return PENDING.env.includes(name) ? 'pending' : 'unknown';
  }
  if (name.startsWith('OTEL_')) return read.has(name) || OTEL_SPEC.test(name) ? 'read' : 'unknown';
  return 'read';
}

/** Commands of the hookgate executable: the `commands:` block of its usage text (services/hookgate/src/main.ts). */
export function hookgateCommands(): Set<string> {
  const main = readRepo('services/hookgate/src/main.ts');
  const block = /commands:\n((?:[ \t]+\S.*\n)+)/.exec(main);
  if (!block?.[1]) throw new Error('no "commands:" block in the usage text of services/hookgate/src/main.ts');
  return new Set(
    block[1]
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0])
      .filter((w): w is string => !!w),
  );
}

/** The scanner ids hookgate knows (`SCANNER_IDS` of services/hookgate/src/scanners.ts). */
export function scannerIds(): string[] {
  return [...SCANNER_IDS];
}

/** Commands a deployment may run: the executable's commands, plus pending ones not landed yet. */
export function commandVerdict(command: string, commands: Set<string>): VariableVerdict {
  if (commands.has(command)) return 'read';
  return PENDING.commands.includes(command) ? 'pending' : 'unknown';
}

// ---------------------------------------------------------------------------------------------------------------
// Images

export interface ImageRef {
  repository: string;
  tag?: string;
  digest?: string;
}

export function parseImage(ref: string): ImageRef {
  const [nameTag, digest] = ref.split('@') as [string, string | undefined];
  const slash = nameTag.lastIndexOf('/');
  const colon = nameTag.lastIndexOf(':');
  const hasTag = colon > slash;
  return {
    repository: hasTag ? nameTag.slice(0, colon) : nameTag,
    ...(hasTag ? { tag: nameTag.slice(colon + 1) } : {}),
    ...(digest ? { digest } : {}),
  };
}

const FLOATING = new Set([
  'latest',
  'stable',
  'edge',
  'nightly',
  'mainline',
  'current',
  'lts',
  'rolling',
  'unstable',
  'testing',
  'main',
  'master',
  'dev',
]);
const DEBIAN_CODENAMES = ['bookworm', 'trixie', 'forky'];

/** Why an image reference is not pinned, or undefined: a digest, or a tag naming a version (or a Debian release). */
export function unpinned(ref: string): string | undefined {
  const img = parseImage(ref);
  if (img.digest) return undefined;
  if (!img.tag) return `${ref}: no tag (means latest)`;
  if (FLOATING.has(img.tag)) return `${ref}: floating tag "${img.tag}"`;
  if (!/\d/.test(img.tag) && !DEBIAN_CODENAMES.some((c) => img.tag!.includes(c)))
    return `${ref}: tag "${img.tag}" names no version`;
  return undefined;
}

/** `host:port`, `tcp://host:port`, `redis://host:port/…`, `http://host:port` → host and port. */
export function hostPort(value: string): { host: string; port: number } | undefined {
  const m = /^(?:[a-z]+:\/\/)?(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+):(\d+)/.exec(value);
  return m ? { host: m[1]!, port: Number(m[2]) } : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Dockerfile

export interface Instruction {
  line: number;
  keyword: string;
  /** Everything after the keyword and its --flags. */
  args: string;
  flags: Record<string, string>;
  /** The exec (JSON array) form, when used. */
  exec?: string[];
}

export interface BuildStage {
  index: number;
  name?: string;
  image: string;
  from: Instruction;
  instructions: Instruction[];
}

export interface Dockerfile {
  directives: Record<string, string>;
  /** ARGs before the first FROM. */
  globalArgs: Instruction[];
  stages: BuildStage[];
}

/** A Dockerfile parser for the subset of the syntax these files use: directives, continuations, flags, exec form. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split('\n');
  const directives: Record<string, string> = {};
  let i = 0;
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-z]+)\s*=\s*(\S+)\s*$/.exec(lines[i]!);
    if (!m) break;
    directives[m[1]!] = m[2]!;
  }
  const logical: { line: number; text: string }[] = [];
  let buf: string | undefined;
  let start = 0;
  for (; i < lines.length; i++) {
    const raw = lines[i]!;
    if (/^\s*#/.test(raw)) continue; // comments, also inside continuations
    if (buf === undefined) {
      if (raw.trim() === '') continue;
      buf = '';
      start = i + 1;
    }
    const cont = /\\\s*$/.test(raw);
    buf += cont ? raw.replace(/\\\s*$/, ' ') : raw;
    if (!cont) {
      logical.push({ line: start, text: buf.trim() });
      buf = undefined;
    }
  }
  if (buf !== undefined) logical.push({ line: start, text: buf.trim() });

  const globalArgs: Instruction[] = [];
  const stages: BuildStage[] = [];
  for (const { line, text: t } of logical) {
    const sp = t.search(/\s/);
    const keyword = (sp < 0 ? t : t.slice(0, sp)).toUpperCase();
    let rest = sp < 0 ? '' : t.slice(sp).trim();
    const flags: Record<string, string> = {};
    for (;;) {
      const f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest);
      if (!f) break;
      flags[f[1]!] = f[2] ?? 'true';
      rest = rest.slice(f[0].length);
    }
    const ins: Instruction = { line, keyword, args: rest, flags };
    const json = keyword === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/, '') : rest;
    if (json.startsWith('[')) {
      try {
        ins.exec = JSON.parse(json) as string[];
      } catch {
        // shell form that happens to start with "["
      }
    }
    if (keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      stages.push({
        index: stages.length,
        image: m?.[1] ?? rest,
        ...(m?.[2] ? { name: m[2] } : {}),
        from: ins,
        instructions: [],
      });
    } else if (stages.length === 0) {
      if (keyword === 'ARG') globalArgs.push(ins);
      else throw new Error(`line ${line}: ${keyword} before the first FROM`);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { directives, globalArgs, stages };
}

/** Resolves `${NAME}` / `$NAME` in a FROM line from the global ARG defaults. */
export function expandArgs(value: string, args: Instruction[]): string {
  const defaults = new Map(
    args
      .map((a) => a.args.split('=') as [string, string | undefined])
      .map(([k, v]) => [k.trim(), (v ?? '').trim()]),
  );
  return value.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n: string) => defaults.get(n) ?? '');
}

// ---------------------------------------------------------------------------------------------------------------
// .dockerignore

interface IgnoreRule {
  negate: boolean;
  re: RegExp;
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The rules of a .dockerignore file: Go filepath.Match globs plus `**`, `!` exceptions, last match wins. */
export function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const p = (negate ? l.slice(1) : l).trim().replace(/^\/+/, '').replace(/\/+$/, '');
      return { negate, re: globToRegExp(p) };
    });
}

/** Whether a context-relative path is left out of the build context (a rule on a directory covers its contents). */
export function isIgnored(path: string, rules: IgnoreRule[]): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const r of rules) if (prefixes.some((p) => r.re.test(p))) ignored = !r.negate;
  return ignored;
}

/** Files of the repository under `dir` (relative paths), skipping node_modules and .git. */
export function repoFiles(dir = ''): string[] {
  const out: string[] = [];
  const rec = (rel: string) => {
    const abs = repoPath(rel);
    if (!existsSync(abs)) return;
    if (!statSync(abs).isDirectory()) {
      out.push(rel);
      return;
    }
    for (const name of readdirSync(abs)) {
      if (name === 'node_modules' || name === '.git') continue;
      rec(rel ? `${rel}/${name}` : name);
    }
  };
  rec(dir);
  return out;
}
