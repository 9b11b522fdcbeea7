/**
 * The container image, built and run for real (issue 15). On a Docker engine (the machine's, or a private dockerd
 * this test starts and stops: test/support/docker.ts):
 *
 * 1. builds a stand-in for each base image the Dockerfile names, under that exact name (test/support/stand-in-
 *    base.ts), then deploy/docker/Dockerfile as shipped, with BuildKit, from the repository root;
 * 2. runs every role from the image as the Kubernetes manifests run it (uid 1000, read-only root, no capabilities,
 *    a tmpfs /tmp) with host networking against a private Redis and clamd on loopback: health by the image's
 *    HEALTHCHECK, Stalwart and milter traffic through containers only, `config check`, SIGTERM within the
 *    manifests' grace period;
 * 3. checks docker-compose.yml with docker-compose itself against the image's own commands, ports and variables,
 *    and starts its hookgate services from the image, pointed at a private Redis, clamd, rspamd, spamd and an
 *    OTLP sink on loopback (the file's third-party images cannot be pulled here).
 *
 * Build time, image size and start-up times are printed at the end (docs/deploy.md quotes them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { Redis } from 'ioredis';
import { loadConfig } from '../../services/hookgate/src/config.js';
import { splitListen } from '../../services/hookgate/src/roles.js';
import {
  DOCKER_CACHE_DIR,
  TEST_LABEL,
  dockerEngine,
  run,
  type Docker,
  type DockerEngine,
} from '../support/docker.js';
import { ensureBaseImage, STAND_IN_LABEL, type BaseImage } from '../support/stand-in-base.js';
import {
  freePort,
  startClamd,
  startRedis,
  waitUntil,
  type ClamdDaemon,
  type RedisDaemon,
} from '../support/daemons.js';
import { postStalwart, startHookgate } from '../support/processes.js';
import { stalwartRequest } from '../support/stalwart.js';
import { clean, eicarAttachment, eicarInline, eicarZip, toEml, type Sample } from '../support/samples.js';
import { MilterClient, show } from '../support/milter-client.js';
import { startRspamd } from '../support/rspamd.js';
import { startSpamd } from '../support/spamd.js';
import { startOtlpSink } from '../support/otlp-sink.js';
import { ensureDebian } from '../support/netns.js';
import {
  expandArgs,
  hookgateVariables,
  isIgnored,
  judgeVariable,
  parseDockerfile,
  parseDockerignore,
  readRepo,
  repoFiles,
  repoPath,
} from './support.js';

const VERSION = (JSON.parse(readRepo('package.json')) as { version: string }).version;
const IMAGE = `hookgate:${VERSION}`;
/** The image's own label: `docker image prune` removes only hookgate images a rebuild left untagged. */
const IMAGE_LABEL = 'org.opencontainers.image.title=hookgate';
const DOCKERFILE = 'deploy/docker/Dockerfile';
const MAX_GROWTH_BYTES = 250 * 1_000_000;
const RUN_ID = `${process.pid}`;
/** Security settings of the Kubernetes manifests' pods, as `docker run` flags (user 1000 comes from the image). */
const HARDENED = [
  '--read-only',
  '--tmpfs',
  '/tmp',
  '--cap-drop',
  'ALL',
  '--security-opt',
  'no-new-privileges',
];

const dockerfile = parseDockerfile(readRepo(DOCKERFILE));
const stageNames = dockerfile.stages.map((s) => s.name);
const baseImages = [
  ...new Set(
    dockerfile.stages
      .map((s) => expandArgs(s.image, dockerfile.globalArgs))
      .filter((i) => !stageNames.includes(i)),
  ),
];

let engine: DockerEngine | undefined;
let docker: Docker;
const bases: BaseImage[] = [];
let buildLog = '';
/** Measured figures, printed at the end. */
const figures: string[] = [];
const note = (line: string) => figures.push(line);

interface ImageInspect {
  Id: string;
  Size: number;
  Config: {
    User: string;
    Env: string[];
    Entrypoint: string[];
    Cmd: string[];
    ExposedPorts: Record<string, object>;
    Healthcheck: { Test: string[]; Interval: number };
    Labels: Record<string, string>;
  };
}

interface ContainerInspect {
  Id: string;
  Name: string;
  State: {
    Status: string;
    Running: boolean;
    ExitCode: number;
    Health?: { Status: string; Log: { ExitCode: number; Output: string }[] };
  };
  Config: { User: string; Healthcheck?: { Test?: string[] } };
  HostConfig: {
    ReadonlyRootfs: boolean;
    CapDrop: string[] | null;
    NetworkMode: string;
    SecurityOpt: string[] | null;
  };
}

let image: ImageInspect;

beforeAll(async () => {
  engine = await dockerEngine();
  docker = engine.docker;
  note(
    `engine: ${engine.kind}${engine.driver ? ` ${engine.driver}` : ''} (${docker.host}), ready in ${(engine.startMs / 1000).toFixed(1)} s`,
  );
  await docker.cleanup(IMAGE_LABEL);
  for (const name of baseImages) {
    const base = await ensureBaseImage(docker, name, join(DOCKER_CACHE_DIR, 'stand-in-work'));
    bases.push(base);
    note(
      `base ${name}: ${base.origin} in ${(base.ms / 1000).toFixed(1)} s, ${mb(base.size)} (${Object.entries(
        base.labels,
      )
        .filter(([k]) => k !== STAND_IN_LABEL)
        .map(([k, v]) => `${k.slice(STAND_IN_LABEL.length + 1)} ${v}`)
        .join(', ')})`,
    );
  }
  // --network host: this engine has no bridge, and the build's RUN steps fetch from the npm registry and the
  // Debian mirror. An engine with its default bridge network needs no flag (docs/deploy.md).
  const build = await docker.run(
    ['build', '--network', 'host', '--progress', 'plain', '-f', DOCKERFILE, '-t', IMAGE, '.'],
    { cwd: repoPath(''), timeoutMs: 40 * 60_000 },
  );
  buildLog = build.stderr + build.stdout;
  note(
    `build: ${(build.ms / 1000).toFixed(1)} s (${(buildLog.match(/^#\d+ CACHED$/gm) ?? []).length} steps cached)`,
  );
  image = (await docker.inspect<ImageInspect>('image', IMAGE))!;
}, 60 * 60_000);

afterAll(async () => {
  if (engine) {
    await docker.cleanup(IMAGE_LABEL);
    // Keeps the most recently used build cache (dependency layers, the current sources); vfs copies every layer
    // whole, so older entries would pile up gigabytes.
    await docker.run(['builder', 'prune', '-f', '--keep-storage', '3gb'], { allowFail: true });
    await engine.stop();
  }
  console.log(`image test figures:\n  ${figures.join('\n  ')}`);
}, 5 * 60_000);

const mb = (bytes: number) => `${(bytes / 1_000_000).toFixed(1)} MB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe('the image build', () => {
  it('stands in for each base image under the exact name the Dockerfile uses: Debian minbase, Node from the npm registry, user node = 1000', async () => {
    expect(baseImages).toEqual(['node:24-bookworm-slim']);
    for (const base of bases) {
      const probe = await docker.run([
        'run',
        '--rm',
        '--network',
        'none',
        '--label',
        TEST_LABEL,
        base.image,
        'sh',
        '-c',
        'node --version; npm --version; id -u node; id -g node; . /etc/os-release; echo $VERSION_CODENAME',
      ]);
      const [node, npm, uid, gid, codename] = probe.stdout.trim().split('\n');
      expect(node).toMatch(/^v24\./);
      expect(npm).toMatch(/^\d+\.\d+\.\d+$/);
      expect([uid, gid]).toEqual(['1000', '1000']);
      expect(codename).toBe('bookworm');
      if (base.origin !== 'real') expect(base.labels[`${STAND_IN_LABEL}.node`]).toBe(node!.slice(1));
    }
  });

  it('builds deploy/docker/Dockerfile with BuildKit through its own stages and npm cache mounts', () => {
    expect(buildLog).toMatch(/^#\d+ \[internal\] load build definition from Dockerfile$/m);
    expect(buildLog).not.toMatch(/^Step \d+\/\d+/m); // the legacy builder would print steps (and reject --mount)
    // Every stage that adds files runs (its steps named after it; `base` only sets ENV and WORKDIR, which the
    // runtime stage shares, so BuildKit shows that step once, under runtime).
    for (const stage of dockerfile.stages.filter((s) =>
      s.instructions.some((i) => i.keyword === 'RUN' || i.keyword === 'COPY'),
    )) {
      expect(buildLog, `stage ${stage.name}`).toMatch(
        new RegExp(`^#\\d+ \\[${stage.name} \\d+/\\d+\\]`, 'm'),
      );
    }
    const cached = new Set(
      [
        ...buildLog.matchAll(
          /^#\d+ \[([a-z-]+) \d+\/\d+\] RUN --mount=type=cache,target=\/root\/\.npm,sharing=locked\s+npm ci/gm,
        ),
      ].map((m) => m[1]),
    );
    expect([...cached].sort()).toEqual(['build', 'prod-deps']);
    expect(image.Config.Labels['org.opencontainers.image.title']).toBe('hookgate');
  });

  it(
    'sends the build exactly the files Dockerfile.dockerignore keeps',
    async () => {
      // The prune stage's `COPY . .` into /src is the whole build context: export that stage (cached) as a tar.
      const build = spawn(
        docker.cli,
        [
          'build',
          '--network',
          'host',
          '-q',
          '--target',
          'prune',
          '-f',
          DOCKERFILE,
          '-o',
          'type=tar,dest=-',
          '.',
        ],
        { cwd: repoPath(''), env: docker.env(), stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const listed = await run('tar', ['-t'], { stdin: build.stdout!, timeoutMs: 20 * 60_000 });
      const inContext = listed.stdout
        .split('\n')
        .filter((f) => f.startsWith('src/') && !f.endsWith('/'))
        .map((f) => f.slice(4))
        .sort();
      const rules = parseDockerignore(readRepo(`${DOCKERFILE}.dockerignore`));
      const kept = repoFiles()
        .filter((f) => !isIgnored(f, rules))
        .sort();
      expect(inContext).toEqual(kept);
      for (const gone of ['test/', 'docs/', '.git/', 'deploy/k8s/', 'docker-compose.yml'])
        expect(
          inContext.some((f) => f.startsWith(gone)),
          gone,
        ).toBe(false);
    },
    20 * 60_000,
  );

  it(`adds at most ${mb(MAX_GROWTH_BYTES)} to the base, and runs tini → node as uid 1000 with a health check`, () => {
    const base = bases.find((b) => b.image === 'node:24-bookworm-slim')!;
    const growth = image.Size - base.size;
    note(`image ${IMAGE}: ${mb(image.Size)}, base ${mb(base.size)}, added ${mb(growth)}`);
    expect(growth).toBeLessThanOrEqual(MAX_GROWTH_BYTES);
    expect(image.Config.User).toBe('1000:1000');
    expect(image.Config.Entrypoint).toEqual([
      '/usr/bin/tini',
      '--',
      'node',
      'services/hookgate/bin/hookgate.js',
    ]);
    expect(image.Config.Cmd).toEqual(['all']);
    expect(image.Config.Healthcheck.Test).toEqual(['CMD', 'node', '/usr/local/lib/hookgate/healthcheck.mjs']);
    expect(Object.keys(image.Config.ExposedPorts).sort()).toEqual(['11332/tcp', '8080/tcp', '9464/tcp']);
  });

  it('`config check` of the shipped example exits 0', async () => {
    const check = await docker.run(
      [
        'run',
        '--rm',
        '--network',
        'none',
        ...HARDENED,
        '--label',
        TEST_LABEL,
        '-v',
        `${repoPath('deploy/config/hookgate.example.yaml')}:/etc/hookgate/hookgate.yaml:ro`,
        IMAGE,
        'config',
        'check',
        '/etc/hookgate/hookgate.yaml',
      ],
      { allowFail: true },
    );
    expect(check.code, check.stdout + check.stderr).toBe(0);
    // The image's HOOKGATE_LISTEN wins over the file's loopback address (docs/deploy.md).
    expect(check.stdout).toBe(
      '/etc/hookgate/hookgate.yaml: OK (listen 0.0.0.0:8080; active scanners: clamav, dlp)\n',
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Containers

interface Started {
  name: string;
  /** `docker run -d` returned (container created: vfs copies the image). */
  runMs: number;
  /** `hookgate: ready` in its log, from `docker run`. */
  readyMs: number;
  /** Healthy by the image's HEALTHCHECK, from `docker run`. */
  healthyMs: number;
}

async function containerState(name: string): Promise<ContainerInspect> {
  const c = await docker.inspect<ContainerInspect>('container', name);
  if (!c) throw new Error(`container ${name} is gone`);
  return c;
}

async function logsOf(name: string): Promise<string> {
  const r = await docker.run(['logs', name], { allowFail: true });
  return r.stdout + r.stderr;
}

/** Resolves when the container's log shows `hookgate: ready` (followed, not polled); fails when it stops first. */
function logReady(name: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const follow = spawn(docker.cli, ['logs', '-f', name], {
      env: docker.env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      follow.kill();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => finish(new Error(`${name}: no "hookgate: ready" within ${timeoutMs} ms:\n${out}`)),
      timeoutMs,
    );
    const onData = (b: Buffer) => {
      out += String(b);
      if (/^hookgate: ready$/m.test(out)) finish();
    };
    follow.stdout.on('data', onData);
    follow.stderr.on('data', onData);
    follow.on('close', () => finish(new Error(`${name} stopped before ready:\n${out}`)));
  });
}

/** Waits for `hookgate: ready`, then for the image's HEALTHCHECK to pass (inspected every 250 ms). */
async function awaitHealthy(name: string, t0: number, runMs: number): Promise<Started> {
  await logReady(name, 120_000);
  const readyMs = Date.now() - t0;
  for (const until = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 250))) {
    const c = await containerState(name);
    if (c.State.Health?.Status === 'healthy') break;
    if (!c.State.Running || c.State.Health?.Status === 'unhealthy' || Date.now() > until) {
      throw new Error(
        `${name}: ${c.State.Status}, health ${c.State.Health?.Status}: ${JSON.stringify(c.State.Health?.Log.at(-1))}\n${await logsOf(name)}`,
      );
    }
  }
  return { name, runMs, readyMs, healthyMs: Date.now() - t0 };
}

/**
 * `docker run -d` of the image with one hookgate command. The health check runs every second instead of every
 * 30 s (the image's interval), so the test need not wait; the check itself is the image's.
 */
async function startRole(
  role: string,
  command: string[],
  env: Record<string, string>,
  configFile: string,
): Promise<Started> {
  const name = `hookgate-imagetest-${role}-${RUN_ID}`;
  const t0 = Date.now();
  await docker.run([
    'run',
    '-d',
    '--name',
    name,
    '--label',
    TEST_LABEL,
    '--network',
    'host',
    ...HARDENED,
    '--health-interval',
    '1s',
    '-v',
    `${configFile}:/etc/hookgate/hookgate.yaml:ro`,
    '-e',
    'HOOKGATE_CONFIG=/etc/hookgate/hookgate.yaml',
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    IMAGE,
    ...command,
  ]);
  return awaitHealthy(name, t0, Date.now() - t0);
}

/** The processes of a container as the host sees them (health checks come and go among them). */
async function processes(name: string): Promise<{ pid: number; uid: string; args: string }[]> {
  const r = await docker.run(['top', name, '-o', 'pid,uid,args']);
  return r.stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => {
      const [pid, uid, ...args] = l.trim().split(/\s+/);
      return { pid: Number(pid), uid: uid!, args: args.join(' ') };
    })
    .sort((a, b) => a.pid - b.pid);
}

/** SIGTERM (as Kubernetes sends after preStop) and the exit code, with how long it took. */
async function terminate(name: string): Promise<{ code: number; ms: number }> {
  const t0 = Date.now();
  await docker.run(['kill', '--signal', 'TERM', name]);
  const r = await docker.run(['wait', name], { timeoutMs: (graceWindowSeconds() + 30) * 1000 });
  return { code: Number(r.stdout.trim()), ms: Date.now() - t0 };
}

/**
 * Seconds between SIGTERM and SIGKILL in the Kubernetes manifests: terminationGracePeriodSeconds less the preStop
 * sleep (it runs first, within the same period), the smallest over the hookgate Deployments.
 */
function graceWindowSeconds(): number {
  const windows: number[] = [];
  for (const file of ['ingress', 'milter', 'worker-clamav', 'worker-dlp', 'worker-rspamd', 'worker-spamd']) {
    for (const doc of parseAllDocuments(readRepo(`deploy/k8s/rendered/prod/${file}.yaml`))) {
      const o = doc.toJS() as {
        kind?: string;
        spec?: {
          template?: {
            spec?: {
              terminationGracePeriodSeconds?: number;
              containers: { lifecycle?: { preStop?: { sleep?: { seconds: number } } } }[];
            };
          };
        };
      };
      const pod = o?.kind === 'Deployment' ? o.spec?.template?.spec : undefined;
      if (!pod?.terminationGracePeriodSeconds) continue;
      windows.push(
        pod.terminationGracePeriodSeconds - (pod.containers[0]?.lifecycle?.preStop?.sleep?.seconds ?? 0),
      );
    }
  }
  expect(windows.length).toBe(6);
  return Math.min(...windows);
}

function tempConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-imagetest-'));
  const file = join(dir, 'hookgate.yaml');
  writeFileSync(file, yaml, { mode: 0o644 });
  return file;
}

const loopback = async () => `127.0.0.1:${await freePort()}`;
const SCANNED = { type: 'addHeader', name: 'X-Virus-Scanned', value: 'hookgate (ClamAV)' };

async function expectVirusVerdicts(url: string, headers: Record<string, string> = {}): Promise<void> {
  for (const sample of [eicarInline(), eicarAttachment(), eicarZip()]) {
    const { status, body } = await postStalwart(url, stalwartRequest('data', {}, sample), headers);
    expect(status).toBe(200);
    expect(body).toMatchObject({ action: 'reject', response: { status: 550, enhanced_status: '5.7.1' } });
    expect(String((body.response as { message: string }).message)).toMatch(/^Virus found: Test\.EICAR/);
  }
  const ok = await postStalwart(url, stalwartRequest('data', {}, clean()), headers);
  expect(ok.body.action).toBe('accept');
  expect(ok.body.modifications).toContainEqual(SCANNED);
}

/** One milter session of a whole message: Postfix's v6 negotiation, connect, HELO, envelope, the message. */
async function milterVerdict(port: number, sample: Sample): Promise<string[]> {
  const c = await MilterClient.open({ port });
  try {
    await c.negotiate();
    c.macros('C', { j: 'mx.test.invalid', '{daemon_addr}': '127.0.0.1', '{daemon_port}': '25' });
    expect(show(await c.connect('client.example.org', '192.0.2.25', 40000))).toEqual(['c:']);
    expect(show(await c.helo('client.example.org'))).toEqual(['c:']);
    expect(show(await c.mail('alice@example.org'))).toEqual(['c:']);
    expect(show(await c.rcpt('bob@example.net'))).toEqual(['c:']);
    return show(await c.message(toEml(sample)));
  } finally {
    c.close();
  }
}

describe('every role from the image, against a private Redis and clamd on loopback', () => {
  let redis: RedisDaemon;
  let clamd: ClamdDaemon;
  const PREFIX = `img${RUN_ID}`;
  const listen: Record<string, string> = {};
  const started: Record<string, Started> = {};
  let configFile: string;
  const commands: Record<string, string[]> = {};
  const role = (container: string) => commands[container]!.join(' ');

  beforeAll(async () => {
    [redis, clamd] = await Promise.all([startRedis(), startClamd()]);
    // Short deadlines, as in the system tests, so the drain case below finishes quickly.
    configFile = tempConfig(
      `redis: { prefix: ${PREFIX} }\nstages: { deadlineMs: { connect: 1500, ehlo: 1500, mail: 1500, rcpt: 1500, data: 4000 } }\n`,
    );
    for (const k of ['all', 'allMetrics', 'ingress', 'ingressMetrics', 'worker', 'milter', 'milterMetrics'])
      listen[k] = await loopback();
    const engines = { HOOKGATE_REDIS_URL: redis.url, HOOKGATE_CLAMD: clamd.tcp };
    const roles: [string, string[], Record<string, string>][] = [
      [
        'ingress',
        ['ingress'],
        { ...engines, HOOKGATE_LISTEN: listen.ingress!, HOOKGATE_METRICS_LISTEN: listen.ingressMetrics! },
      ],
      // `all` on its own queue prefix, so only its own workers can answer it.
      [
        'all',
        ['all'],
        {
          ...engines,
          HOOKGATE_REDIS_PREFIX: `${PREFIX}all`,
          HOOKGATE_LISTEN: listen.all!,
          HOOKGATE_METRICS_LISTEN: listen.allMetrics!,
        },
      ],
      [
        'worker',
        ['worker', '--scanners', 'clamav,dlp'],
        { ...engines, HOOKGATE_METRICS_LISTEN: listen.worker! },
      ],
      [
        'milter',
        ['milter'],
        {
          ...engines,
          HOOKGATE_MILTER_LISTEN: listen.milter!,
          HOOKGATE_METRICS_LISTEN: listen.milterMetrics!,
        },
      ],
    ];
    // Start-up, side by side: the ingress alone from the image, and the same command as a process on the host.
    const [first, ...rest] = roles;
    const alone = await startRole(...first!, configFile);
    const t0 = Date.now();
    const host = await startHookgate(['ingress'], {
      ...first![2],
      HOOKGATE_LISTEN: await loopback(),
      HOOKGATE_CONFIG: configFile,
    });
    const hostMs = Date.now() - t0;
    await host.stop();
    note(
      `start ingress alone: docker run ${secs(alone.runMs)}, ready ${secs(alone.readyMs)}, healthy ${secs(alone.healthyMs)}; the same on the host: ready ${secs(hostMs)}`,
    );
    const results = [
      alone,
      ...(await Promise.all(rest.map(([role, command, env]) => startRole(role, command, env, configFile)))),
    ];
    for (const [i, [r, command]] of roles.entries()) {
      started[r] = results[i]!;
      commands[results[i]!.name] = command;
    }
    for (const s of results.slice(1))
      note(
        `start ${s.name.replace(/-\d+$/, '')}: docker run ${secs(s.runMs)}, ready ${secs(s.readyMs)}, healthy ${secs(s.healthyMs)} (3 starting at once)`,
      );
  }, 5 * 60_000);

  afterAll(async () => {
    await docker?.cleanup(IMAGE_LABEL);
    await Promise.all([redis?.stop(), clamd?.stop()]);
    if (configFile) rmSync(join(configFile, '..'), { recursive: true, force: true });
  });

  it('all, ingress, worker --scanners clamav,dlp and milter run as uid 1000 on a read-only root, healthy by the image’s HEALTHCHECK', async () => {
    for (const { name } of Object.values(started)) {
      const c = await containerState(name);
      expect(c.State.Health?.Status, name).toBe('healthy');
      expect(c.Config.Healthcheck?.Test ?? image.Config.Healthcheck.Test).toEqual(
        image.Config.Healthcheck.Test,
      );
      expect(c.HostConfig.ReadonlyRootfs, name).toBe(true);
      expect(c.HostConfig.CapDrop, name).toEqual(['ALL']);
      const procs = await processes(name);
      expect(procs[0]?.args, name).toBe(
        '/usr/bin/tini -- node services/hookgate/bin/hookgate.js ' + role(name),
      );
      expect(procs[1]?.args, name).toBe('node services/hookgate/bin/hookgate.js ' + role(name));
      for (const p of procs) expect(p.uid, `${name}: ${p.args}`).toBe('1000');
      const write = await docker.run(
        ['exec', name, 'node', '-e', "require('fs').writeFileSync('/app/probe', 'x')"],
        { allowFail: true },
      );
      expect(write.code, name).not.toBe(0);
      expect(write.stderr, name).toMatch(/EROFS: read-only file system/);
    }
    // The check fails when nothing answers where it looks (so "healthy" above means something).
    const closed = await loopback();
    const probe = await docker.run(
      [
        'exec',
        '-e',
        `HOOKGATE_LISTEN=${closed}`,
        '-e',
        `HOOKGATE_METRICS_LISTEN=${closed}`,
        started.worker!.name,
        'node',
        '/usr/local/lib/hookgate/healthcheck.mjs',
      ],
      { allowFail: true },
    );
    expect(probe.code).toBe(1);
    expect(probe.stderr).toMatch(/unhealthy: no 200 from/);
  });

  it('Stalwart end to end through the ingress and worker containers: EICAR rejected 550 naming the virus, clean mail accepted with its header', async () => {
    await expectVirusVerdicts(`http://${listen.ingress}`);
  });

  it('the all-in-one container gives the same verdicts on its own', async () => {
    await expectVirusVerdicts(`http://${listen.all}`);
  });

  it('the milter container (scanned by the worker container) rejects EICAR with 550 and accepts clean mail with the header', async () => {
    const port = splitListen(listen.milter!).port;
    expect(await milterVerdict(port, eicarInline())).toEqual([
      expect.stringMatching(/^y:550 5\.7\.1 Virus found: Test\.EICAR/),
    ]);
    expect(await milterVerdict(port, clean())).toEqual(['h:X-Virus-Scanned| hookgate (ClamAV)', 'a:']);
  });

  it(
    'SIGTERM: every role drains and exits 0 within the Kubernetes grace period',
    async () => {
      const window = graceWindowSeconds();
      // With the worker frozen, a data request waits in the queue until its deadline: in flight when the ingress is
      // told to stop, and still answered. (Frozen, not stopped: a worker that stops leaves its pool, and the ingress
      // then answers at once instead of queueing; a frozen one still counts for its last heartbeat's 3 s.)
      await docker.run(['pause', started.worker!.name]);
      const inflight = postStalwart(`http://${listen.ingress}`, stalwartRequest('data', {}, clean()));
      const r = new Redis(redis.url);
      try {
        await waitUntil(
          async () => (await r.llen(`${PREFIX}:{scan-clamav}:wait`)) > 0,
          10_000,
          'the scan job queued',
        );
      } finally {
        r.disconnect();
      }
      const [ingress, answer] = await Promise.all([terminate(started.ingress!.name), inflight]);
      expect(answer.body).toMatchObject({
        action: 'reject',
        response: { status: 451, enhanced_status: '4.7.1' },
      });
      expect(ingress.code).toBe(0);
      await docker.run(['unpause', started.worker!.name]);
      const worker = await terminate(started.worker!.name);
      const [milter, all] = await Promise.all([
        terminate(started.milter!.name),
        terminate(started.all!.name),
      ]);
      const stops = { worker, ingress, milter, all };
      note(
        `SIGTERM → exit: ${Object.entries(stops)
          .map(([k, v]) => `${k} ${(v.ms / 1000).toFixed(1)} s`)
          .join(', ')} (window ${window} s)`,
      );
      for (const [role, s] of Object.entries(stops)) {
        expect(s.code, role).toBe(0);
        expect(s.ms, role).toBeLessThan(window * 1000);
      }
    },
    3 * 60_000,
  );
});

// ---------------------------------------------------------------------------------------------------------------
// docker-compose.yml

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, unknown>;
  [key: string]: unknown;
}

describe('docker-compose.yml, with the built image', () => {
  const PROJECT = `hookgate-imagetest-${RUN_ID}`;
  const TOKEN = 'compose-test=0123456789abcdef0123456789';
  let resolved: { version?: string; services: Record<string, ComposeService> };
  let hookgate: [string, ComposeService][];
  let dir: string;

  const compose = (args: string[], file: string, timeoutMs = 5 * 60_000) =>
    run('docker-compose', ['-p', PROJECT, '-f', file, ...args], {
      cwd: repoPath(''),
      env: docker.env({ HOOKGATE_AUTH_TOKENS: TOKEN }),
      timeoutMs,
    });

  beforeAll(async () => {
    ensureDebian('docker-compose', 'docker-compose');
    dir = mkdtempSync(join(tmpdir(), 'hookgate-imagetest-compose-'));
    // docker-compose itself validates the file and resolves anchors, merges, interpolation and paths.
    resolved = parse((await compose(['config'], repoPath('docker-compose.yml'))).stdout) as typeof resolved;
    hookgate = Object.entries(resolved.services).filter(([, s]) => s.build?.dockerfile === DOCKERFILE);
  });

  afterAll(async () => {
    if (dir) {
      await compose(['down', '-v', '--remove-orphans'], join(dir, 'compose.yml')).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 3 * 60_000);

  it(
    'runs the image’s own commands, scanner ids, variables and ports in every hookgate service',
    async () => {
      expect(hookgate.map(([n]) => n).sort()).toEqual([
        'ingress',
        'milter',
        'worker-clamav',
        'worker-dlp',
        'worker-rspamd',
        'worker-spamd',
      ]);
      // What the image says about itself: its usage text, and the variables its compiled code mentions.
      const own = JSON.parse(
        (
          await docker.run([
            'run',
            '--rm',
            '--network',
            'none',
            '--label',
            TEST_LABEL,
            '--entrypoint',
            'node',
            IMAGE,
            '-e',
            SELF_SCRIPT,
          ])
        ).stdout,
      ) as { usage: string; variables: string[] };
      const usage = own.usage;
      const commands = /commands:\n((?:[ \t]+\S.*\n)+)/
        .exec(usage)![1]!
        .split('\n')
        .map((l) => l.trim().split(/\s+/)[0])
        .filter(Boolean);
      const scanners = /\(scanners: ([^)]+)\)/.exec(usage)![1]!.split(', ');
      const variables = new Set(own.variables);
      // The image was built from these sources: it reads what they read.
      expect([...variables].sort()).toEqual([...hookgateVariables()].sort());
      const imageEnv = Object.fromEntries(
        image.Config.Env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
      );
      for (const [name, s] of hookgate) {
        expect(s.image, name).toBe(IMAGE);
        const [command, ...args] = s.command!;
        expect(commands, name).toContain(command);
        if (args.includes('--scanners'))
          for (const id of args[args.indexOf('--scanners') + 1]!.split(','))
            expect(scanners, `${name}: ${id}`).toContain(id);
        for (const v of Object.keys(s.environment ?? {}))
          expect(judgeVariable(v, variables), `${name}: ${v}`).toBe('read');
        // The configuration the service runs with: the image's variables, then the service's, then its mounted file.
        const mounts = new Map(
          (s.volumes ?? []).map((v) => v.split(':')).map(([src, target]) => [target!, src!]),
        );
        const env = {
          ...imageEnv,
          ...s.environment,
          HOOKGATE_CONFIG: mounts.get(s.environment!.HOOKGATE_CONFIG!)!,
        };
        const config = loadConfig(env);
        const listening =
          command === 'ingress'
            ? [splitListen(config.listen).port]
            : command === 'milter'
              ? [splitListen(config.milter.listen).port]
              : [];
        const published = (s.ports ?? []).map((p) => Number(/:(\d+)(\/tcp)?$/.exec(p)![1]));
        expect(published, `${name}: published = listening`).toEqual(listening);
        for (const p of published)
          expect(image.Config.ExposedPorts, `${name}: EXPOSE ${p}`).toHaveProperty([`${p}/tcp`]);
        // Prometheus scrapes workers and the milter where the image's variables make them serve /metrics.
        if (command !== 'ingress') expect(splitListen(config.metrics.listen!).port, name).toBe(9464);
      }
      // And the image's own loader agrees on the ingress listener, with the service's variables and file.
      const [, ingress] = hookgate.find(([n]) => n === 'ingress')!;
      const check = await docker.run([
        'run',
        '--rm',
        '--network',
        'none',
        '--label',
        TEST_LABEL,
        ...HARDENED,
        ...ingress.volumes!.flatMap((v) => ['-v', v]),
        ...Object.entries(ingress.environment!).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
        IMAGE,
        'config',
        'check',
        ingress.environment!.HOOKGATE_CONFIG!,
      ]);
      expect(check.stdout).toMatch(
        new RegExp(`OK \\(listen 0\\.0\\.0\\.0:${/:(\d+)(\/tcp)?$/.exec(ingress.ports![0]!)![1]};`),
      );
    },
    5 * 60_000,
  );

  it(
    'starts its hookgate services from the image (healthy, uid 1000, read-only) and they scan mail end to end; stop exits 0',
    async () => {
      const [redis, clamd, rspamd, spamd, sink] = await Promise.all([
        startRedis(),
        startClamd(),
        startRspamd(),
        startSpamd(),
        startOtlpSink(),
      ]);
      try {
        // Addresses only: on the host's network the services reach the private daemons on loopback instead of the
        // compose service names, and listen on free loopback ports instead of ports every service shares there.
        const addresses = async (): Promise<Record<string, string>> => ({
          HOOKGATE_REDIS_URL: redis.url,
          HOOKGATE_CLAMD: clamd.tcp,
          HOOKGATE_RSPAMD_URL: rspamd.url,
          HOOKGATE_SPAMD: spamd.endpoint,
          OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
          HOOKGATE_LISTEN: await loopback(),
          HOOKGATE_METRICS_LISTEN: await loopback(),
          HOOKGATE_MILTER_LISTEN: await loopback(),
        });
        // The resolved services as they are, less what host networking cannot take (published ports, dependencies
        // on the third-party services), with the health check every second instead of every 30 s.
        const live: Record<string, ComposeService> = {};
        for (const [name, s] of hookgate) {
          const { ports: _ports, depends_on: _deps, ...rest } = s;
          live[name] = {
            ...rest,
            network_mode: 'host',
            restart: 'no',
            labels: { 'io.hookgate.test': 'image' },
            healthcheck: { interval: '1s' },
            environment: { ...s.environment, ...(await addresses()) },
          };
        }
        const file = join(dir, 'compose.yml');
        // YAML 1.1, as docker-compose reads it (`no` would be a boolean there).
        writeFileSync(
          file,
          stringify({ version: resolved.version ?? '3.8', services: live }, { version: '1.1' }),
        );
        const t0 = Date.now();
        await compose(['up', '-d', '--no-build'], file);
        const upMs = Date.now() - t0;
        const ids = (await compose(['ps', '-q'], file)).stdout.split(/\s+/).filter(Boolean);
        expect(ids.length).toBe(hookgate.length);
        const states = await Promise.all(
          ids.map(async (id) => awaitHealthy((await containerState(id)).Name.replace(/^\//, ''), t0, upMs)),
        );
        note(
          `compose up of ${ids.length} hookgate services: ${(upMs / 1000).toFixed(1)} s, all healthy after ${(Math.max(...states.map((s) => s.healthyMs)) / 1000).toFixed(1)} s`,
        );
        for (const id of ids) {
          const c = await containerState(id);
          expect(c.HostConfig.ReadonlyRootfs, c.Name).toBe(true);
          expect(c.HostConfig.CapDrop, c.Name).toEqual(['ALL']);
          expect(c.HostConfig.SecurityOpt, c.Name).toEqual(['no-new-privileges:true']);
          for (const p of await processes(id)) expect(p.uid, `${c.Name}: ${p.args}`).toBe('1000');
        }

        // The ingress with its token, the milter, and traces at the collector's address.
        const ingress = `http://${live.ingress!.environment!.HOOKGATE_LISTEN}`;
        const auth = { authorization: `Bearer ${TOKEN.split('=')[1]}` };
        expect((await postStalwart(ingress, stalwartRequest('connect'))).status).toBe(401);
        await expectVirusVerdicts(ingress, auth);
        const milterPort = splitListen(live.milter!.environment!.HOOKGATE_MILTER_LISTEN!).port;
        expect(await milterVerdict(milterPort, eicarInline())).toEqual([
          expect.stringMatching(/^y:550 5\.7\.1 Virus found: Test\.EICAR/),
        ]);
        await waitUntil(
          () => sink.spans.some((s) => s.resource['deployment.environment.name'] === 'compose'),
          30_000,
          'spans from the compose services',
        );

        // Stop: SIGTERM, stop_grace_period (45 s) before SIGKILL; every service exits 0.
        const s0 = Date.now();
        await compose(['stop'], file);
        note(`compose stop: ${((Date.now() - s0) / 1000).toFixed(1)} s`);
        for (const id of ids) {
          const c = await containerState(id);
          expect(c.State.ExitCode, c.Name).toBe(0);
        }
      } finally {
        await Promise.all([redis.stop(), clamd.stop(), rspamd.stop(), spamd.stop(), sink.stop()]);
      }
    },
    10 * 60_000,
  );
});

/**
 * Run inside the image: its usage text, and every HOOKGATE_* name its compiled code mentions or its own KNOWN_ENV
 * lists (as support.ts reads the sources).
 */
const SELF_SCRIPT = `
const fs = require('fs'), path = require('path'), names = new Set();
const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) {
  const p = path.join(d, e.name);
  if (e.isDirectory()) { walk(p); continue; }
  if (!p.endsWith('.js')) continue;
  const t = fs.readFileSync(p, 'utf8');
  for (const m of t.matchAll(/\\bHOOKGATE_[A-Z0-9_]*[A-Z0-9]\\b/g)) if (!m[0].startsWith('HOOKGATE_ERR_')) names.add(m[0]);
  for (const m of t.matchAll(/envOrFile\\(\\s*[\\w.]+\\s*,\\s*['"](HOOKGATE_[A-Z0-9_]+)['"]/g)) names.add(m[1] + '_FILE');
} };
for (const top of ['libs', 'services']) for (const pkg of fs.readdirSync('/app/' + top)) {
  const dist = path.join('/app', top, pkg, 'dist');
  if (fs.existsSync(dist)) walk(dist);
}
const usage = require('child_process').execFileSync('node', ['services/hookgate/bin/hookgate.js', '--help'], { encoding: 'utf8' });
// The image's own list of the variables it knows (names built at run time, such as _FILE variants, included).
import('/app/services/hookgate/dist/config.js').then(({ KNOWN_ENV }) => {
  for (const n of KNOWN_ENV) names.add(n);
  console.log(JSON.stringify({ usage, variables: [...names] }));
});
`;
