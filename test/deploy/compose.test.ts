/**
 * Checks docker-compose.yml against the code (image.int.test.ts checks it against the built image): every
 * hookgate service runs a real command with real scanner ids, loads its configuration with hookgate's own loader
 * (the worker's scanner is active, the ingress may listen), sets only variables the code reads, and its ports,
 * engine endpoints, telemetry and scrape targets point at services and ports that exist. Redis runs with
 * noeviction and AOF.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../services/hookgate/src/config.js';
import { scannerRegistry, WORKER_POOLS } from '../../services/hookgate/src/scanners.js';
import { checkExposure, splitListen } from '../../services/hookgate/src/roles.js';
import { checkMilterExposure } from '../../services/hookgate/src/milter-role.js';
import { DRAIN_SECONDS, ENGINE_IMAGES } from '../../deploy/k8s/src/manifests.js';
import {
  PENDING,
  commandVerdict,
  existsInRepo,
  hookgateCommands,
  hookgateVariables,
  hostPort,
  judgeVariable,
  parseDockerfile,
  parseImage,
  readRepo,
  repoPath,
  scannerIds,
  unpinned,
} from './support.js';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { target: number; published?: string | number })[];
  volumes?: (string | { type: string; source: string; target: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  stop_grace_period?: string;
  read_only?: boolean;
  cap_drop?: string[];
  healthcheck?: unknown;
}

const compose = parse(readRepo('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;
const names = Object.keys(services);
const version = (JSON.parse(readRepo('package.json')) as { version: string }).version;

const buildOf = (s: ComposeService) => (typeof s.build === 'string' ? { context: s.build } : s.build);
const isHookgate = (s: ComposeService) => buildOf(s)?.dockerfile === 'deploy/docker/Dockerfile';
const hookgateServices = Object.entries(services).filter(([, s]) => isHookgate(s));
const argv = (s: ComposeService): string[] =>
  Array.isArray(s.command) ? s.command.map(String) : (s.command ?? '').split(/\s+/).filter(Boolean);

function environment(s: ComposeService): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env))
    return Object.fromEntries(env.map((e) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** Compose interpolation with test values: `${X}`, `${X:-default}`, `${X:?error}`. */
const SAMPLE: Record<string, string> = { HOOKGATE_AUTH_TOKENS: 'compose=0123456789abcdef0123' };
const interpolate = (v: string) =>
  v.replace(
    /\$\{([A-Z0-9_]+)(?::?[-?]([^}]*))?\}/g,
    (_, name: string, rest: string | undefined) =>
      SAMPLE[name] ?? (v.includes(':-') ? (rest ?? '') : 'sample'),
  );

/** Bind mounts: container path → repository path. */
function binds(s: ComposeService): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of s.volumes ?? []) {
    if (typeof v !== 'string') continue;
    const [src, target] = v.split(':') as [string, string];
    if (src.startsWith('./')) out.set(target, src.slice(2));
  }
  return out;
}

function containerPorts(s: ComposeService): number[] {
  return (s.ports ?? []).map((p) =>
    typeof p === 'string' ? Number(p.split(':').at(-1)!.split('/')[0]) : p.target,
  );
}

function dependsOn(s: ComposeService): string[] {
  return Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
}

/** hookgate's config as a service sees it: its mounted file plus its environment. */
function serviceConfig(s: ComposeService) {
  const env = Object.fromEntries(Object.entries(environment(s)).map(([k, v]) => [k, interpolate(v)]));
  const file = env.HOOKGATE_CONFIG ? binds(s).get(env.HOOKGATE_CONFIG) : undefined;
  if (env.HOOKGATE_CONFIG)
    expect(file, `${env.HOOKGATE_CONFIG} is bind-mounted from the repository`).toBeDefined();
  return loadConfig({ ...env, ...(file ? { HOOKGATE_CONFIG: repoPath(file) } : {}) });
}

/** The port a third-party or locally built engine image listens on. */
function enginePort(s: ComposeService): number | undefined {
  const build = buildOf(s);
  if (build && !isHookgate(s)) {
    const df = parseDockerfile(readRepo(`${build.context}/${build.dockerfile ?? 'Dockerfile'}`));
    const exposed = df.stages
      .at(-1)!
      .instructions.filter((i) => i.keyword === 'EXPOSE')
      .flatMap((e) => e.args.split(/\s+/));
    return Number(exposed[0]);
  }
  const known: Record<string, number> = {
    'clamav/clamav': 3310,
    'rspamd/rspamd': 11333,
    redis: 6379,
    'jaegertracing/jaeger': 4317,
    'prom/prometheus': 9090,
  };
  return known[parseImage(s.image ?? '').repository];
}

describe('docker-compose.yml', () => {
  const commands = hookgateCommands();
  const ids = scannerIds();
  const read = hookgateVariables();

  it('runs the hookgate image (deploy/docker/Dockerfile) for the ingress, the milter and one pool per scanner', () => {
    const roles = hookgateServices.map(([, s]) => argv(s).join(' '));
    expect(roles).toEqual(
      expect.arrayContaining(['ingress', 'milter', ...WORKER_POOLS.map((id) => `worker --scanners ${id}`)]),
    );
    for (const [name, s] of hookgateServices) expect(s.image, name).toBe(`hookgate:${version}`);
    for (const e of [
      'redis',
      'clamd',
      'rspamd',
      'spamd',
      'otel-collector',
      'jaeger',
      'prometheus',
      'grafana',
    ])
      expect(names).toContain(e);
  });

  describe.each(hookgateServices)('%s', (name, s) => {
    const [command, ...rest] = argv(s);
    const verdict = commandVerdict(command!, commands);

    it('runs a real hookgate command with real scanner ids', () => {
      expect(verdict, `"${command}" is not a hookgate command (${[...commands].join(', ')})`).not.toBe(
        'unknown',
      );
      const at = rest.indexOf('--scanners');
      if (command === 'worker') expect(at, 'workers need --scanners').toBeGreaterThanOrEqual(0);
      if (at >= 0) for (const id of rest[at + 1]!.split(',')) expect(ids, `scanner "${id}"`).toContain(id);
    });

    it('sets only environment variables the code reads', () => {
      for (const key of Object.keys(environment(s)))
        expect(judgeVariable(key, read), key).not.toBe('unknown');
    });

    it('loads its configuration with hookgate’s loader; its scanners are active, its listener allowed', () => {
      const config = serviceConfig(s);
      if (command === 'worker') {
        const registry = scannerRegistry(config);
        for (const id of rest[rest.indexOf('--scanners') + 1]!.split(',')) {
          const entry = registry.find((e) => e.id === id);
          expect(entry?.active, `${id}: ${entry?.why}`).toBe(true);
          expect(entry?.placement).toBe('queue');
        }
      }
      if (command === 'ingress') {
        expect(checkExposure(config)).toBeUndefined();
        expect(containerPorts(s)).toEqual([splitListen(config.listen).port]);
      }
    });

    it('is hardened and stops within hookgate’s own shutdown deadline', () => {
      const config = serviceConfig(s);
      const longest = Math.max(...Object.values(config.stages.deadlineMs).map(Number)) / 1000;
      expect(Number(/^(\d+)s$/.exec(s.stop_grace_period ?? '')?.[1])).toBeGreaterThanOrEqual(
        longest + DRAIN_SECONDS,
      );
      expect(s.read_only).toBe(true);
      expect(s.cap_drop).toEqual(['ALL']);
    });
  });

  // Pending names (support.ts) are allowed until the code has them; listed here so nobody forgets them.
  for (const c of PENDING.commands.filter((c) => !commands.has(c)))
    it.todo(`pending: command "${c}" is not in hookgate's usage yet`);
  for (const v of PENDING.env.filter((v) => !read.has(v)))
    it.todo(`pending: variable ${v} is not read by the code yet`);

  it('publishes the milter on the address it listens on, and lets it listen there', () => {
    const milter = services.milter!;
    const config = serviceConfig(milter);
    expect(containerPorts(milter)).toEqual([splitListen(config.milter.listen).port]);
    expect(checkMilterExposure(config)).toBeUndefined();
    // Only the milter may run without credentials: the ingress must not inherit that consent.
    for (const [name, s] of hookgateServices.filter(([n]) => n !== 'milter'))
      expect(serviceConfig(s).auth.allowUnauthenticated, name).toBe(false);
  });

  it('points hookgate at engines and Redis that are services here, on the ports their images listen on', () => {
    const config = serviceConfig(services.ingress!);
    const targets = {
      clamav: config.scanners.clamav.endpoint,
      rspamd: config.scanners.rspamd.url,
      spamd: config.scanners.spamd.endpoint,
      redis: config.redis.url,
    };
    for (const [what, endpoint] of Object.entries(targets)) {
      const hp = hostPort(endpoint ?? '');
      expect(hp, `${what}: ${endpoint}`).toBeDefined();
      expect(names, `${what}: host ${hp!.host}`).toContain(hp!.host);
      expect(enginePort(services[hp!.host]!), `${what}: port`).toBe(hp!.port);
    }
    // Workers depend on their engine, so compose starts it first.
    for (const [id, engine] of [
      ['clamav', 'clamd'],
      ['rspamd', 'rspamd'],
      ['spamd', 'spamd'],
    ] as const) {
      expect(dependsOn(services[`worker-${id}`]!)).toContain(engine);
    }
  });

  it('keeps clamd’s stream limit at or above what hookgate sends it', () => {
    const config = serviceConfig(services['worker-clamav']!);
    const limit = environment(services.clamd!).CLAMD_CONF_StreamMaxLength!;
    const bytes = Number(/^(\d+)M$/.exec(limit)?.[1]) * 1_048_576;
    expect(bytes).toBeGreaterThanOrEqual(config.scanners.clamav.maxStreamBytes);
  });

  it('runs Redis with noeviction and AOF persistence on a volume', () => {
    const redis = services.redis!;
    const cmd = argv(redis);
    const opt = (flag: string) => cmd[cmd.indexOf(flag) + 1];
    expect(opt('--maxmemory-policy')).toBe('noeviction');
    expect(opt('--appendonly')).toBe('yes');
    expect(redis.volumes?.some((v) => typeof v === 'string' && v.endsWith(':/data'))).toBe(true);
    expect(redis.healthcheck).toBeDefined();
    for (const [name, s] of hookgateServices)
      expect((s.depends_on as Record<string, { condition?: string }>).redis?.condition, name).toBe(
        'service_healthy',
      );
  });

  it('sends traces to the collector, which receives OTLP/HTTP on that port and exports to Jaeger', () => {
    const endpoint = hostPort(environment(services.ingress!).OTEL_EXPORTER_OTLP_ENDPOINT ?? '')!;
    expect(names).toContain(endpoint.host);
    const collector = services[endpoint.host]!;
    const file = [...binds(collector).values()][0]!;
    expect(file).toBe('deploy/otel/collector.yaml');
    const otel = parse(readRepo(file)) as {
      receivers: Record<string, { protocols?: Record<string, { endpoint: string }> }>;
      processors: Record<string, unknown>;
      exporters: Record<string, { endpoint?: string }>;
      extensions?: Record<string, unknown>;
      service: {
        extensions?: string[];
        pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }>;
      };
    };
    expect(hostPort(otel.receivers.otlp!.protocols!.http!.endpoint)!.port).toBe(endpoint.port);
    for (const [name, p] of Object.entries(otel.service.pipelines)) {
      for (const r of p.receivers) expect(otel.receivers, `${name}: receiver ${r}`).toHaveProperty([r]);
      for (const x of p.processors ?? [])
        expect(otel.processors, `${name}: processor ${x}`).toHaveProperty([x]);
      for (const e of p.exporters) expect(otel.exporters, `${name}: exporter ${e}`).toHaveProperty([e]);
    }
    for (const x of otel.service.extensions ?? []) expect(otel.extensions).toHaveProperty([x]);
    const traces = otel.exporters[otel.service.pipelines.traces!.exporters[0]!]!.endpoint!;
    const fallback = /:-([^}]+)\}/.exec(traces)?.[1] ?? traces;
    const backend = hostPort(fallback)!;
    expect(names).toContain(backend.host);
    expect(enginePort(services[backend.host]!)).toBe(backend.port);
  });

  it('scrapes every hookgate service on the port that serves its /metrics', () => {
    const prom = parse(readRepo('deploy/prometheus/prometheus.yml')) as {
      scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; port: number }[] }[];
    };
    const scraped = new Map<string, number>();
    for (const job of prom.scrape_configs)
      for (const sd of job.dns_sd_configs ?? []) for (const n of sd.names) scraped.set(n, sd.port);
    for (const [name, s] of hookgateServices) {
      const config = serviceConfig(s);
      const port =
        argv(s)[0] === 'ingress' ? splitListen(config.listen).port : splitListen(config.metrics.listen!).port;
      expect(scraped.get(name), name).toBe(port);
    }
    for (const n of scraped.keys()) expect(names).toContain(n);
    const grafana = parse(readRepo('deploy/grafana/provisioning/datasources/hookgate.yaml')) as {
      datasources: { url: string }[];
    };
    for (const d of grafana.datasources) expect(names).toContain(hostPort(d.url)!.host);
  });

  it('loads the alert rules into Prometheus and the dashboard into Grafana from the repository', () => {
    const prom = parse(readRepo('deploy/prometheus/prometheus.yml')) as { rule_files?: string[] };
    const promBinds = binds(services.prometheus!);
    expect(prom.rule_files?.length).toBeGreaterThan(0);
    for (const f of prom.rule_files ?? [])
      expect(promBinds.get(f), `rule file ${f} is mounted`).toBeDefined();
    const grafanaBinds = binds(services.grafana!);
    const provisioning = grafanaBinds.get('/etc/grafana/provisioning');
    expect(provisioning).toBe('deploy/grafana/provisioning');
    const providers = parse(readRepo(`${provisioning}/dashboards/hookgate.yaml`)) as {
      providers: { options: { path: string } }[];
    };
    for (const p of providers.providers) {
      expect(
        [...grafanaBinds.keys()].some(
          (target) => target.startsWith(`${p.options.path}/`) && target.endsWith('.json'),
        ),
        p.options.path,
      ).toBe(true);
    }
  });

  it('reads the same under YAML 1.1 and 1.2, as do the configs it mounts', () => {
    for (const f of [
      'docker-compose.yml',
      'deploy/config/hookgate.container.yaml',
      'deploy/otel/collector.yaml',
      'deploy/prometheus/prometheus.yml',
      'deploy/grafana/provisioning/datasources/hookgate.yaml',
      'deploy/grafana/provisioning/dashboards/hookgate.yaml',
    ]) {
      const text = readRepo(f);
      expect(parse(text, { version: '1.1', merge: true }), f).toEqual(
        parse(text, { version: '1.2', merge: true }),
      );
    }
  });

  it('only references services, volumes and files that exist, without dependency cycles', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const d of dependsOn(s)) expect(names, `${name} depends on ${d}`).toContain(d);
      for (const v of s.volumes ?? []) {
        if (typeof v !== 'string') continue;
        const src = v.split(':')[0]!;
        if (src.startsWith('./')) expect(existsInRepo(src.slice(2)), `${name}: ${src}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${src}`).toContain(src);
      }
      const build = buildOf(s);
      if (build)
        expect(
          existsInRepo(`${build.context}/${build.dockerfile ?? 'Dockerfile'}`.replace(/^\.\//, '')),
          name,
        ).toBe(true);
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (n: string, path: string[]) => {
      expect(visiting.has(n), `cycle: ${[...path, n].join(' → ')}`).toBe(false);
      if (done.has(n)) return;
      visiting.add(n);
      for (const d of dependsOn(services[n]!)) visit(d, [...path, n]);
      visiting.delete(n);
      done.add(n);
    };
    for (const n of names) visit(n, []);
  });

  it('pins every image, with the same engine versions as the Kubernetes manifests, and publishes ports on loopback only', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.image, name).toBeDefined();
      expect(unpinned(s.image!), name).toBeUndefined();
      for (const p of s.ports ?? []) {
        const port = typeof p === 'object' ? JSON.stringify(p) : String(p);
        expect(port, `${name}: ${port}`).toMatch(/^127\.0\.0\.1:/);
      }
    }
    expect(services.clamd!.image).toBe(ENGINE_IMAGES.clamd);
    expect(services.rspamd!.image).toBe(ENGINE_IMAGES.rspamd);
    expect(services.redis!.image).toBe(ENGINE_IMAGES.redis);
    expect(services.spamd!.image).toBe(`hookgate-spamd:${version}`);
  });
});
