// Docker HEALTHCHECK for the hookgate image (Kubernetes uses its own probes instead).
// One image runs every role, so this tries the ingress port (HOOKGATE_LISTEN) and then the metrics/health port
// of workers and the milter (HOOKGATE_METRICS_LISTEN); healthy when either answers GET /healthz with 200.
const candidates = [process.env.HOOKGATE_LISTEN, process.env.HOOKGATE_METRICS_LISTEN]
  .filter((v) => typeof v === 'string' && v.length > 0)
  .map((listen) => {
    const i = listen.lastIndexOf(':');
    const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
    const port = listen.slice(i + 1);
    // A wildcard address is reached through loopback.
    const target =
      host === '0.0.0.0' || host === ''
        ? '127.0.0.1'
        : host === '::'
          ? '[::1]'
          : host.includes(':')
            ? `[${host}]`
            : host;
    return `http://${target}:${port}/healthz`;
  });

for (const url of candidates) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (res.status === 200) process.exit(0);
  } catch {
    // Nothing listening there (another role); try the next one.
  }
}
process.stderr.write(
  `unhealthy: no 200 from ${candidates.join(', ') || '(no HOOKGATE_LISTEN / HOOKGATE_METRICS_LISTEN)'}\n`,
);
process.exit(1);
