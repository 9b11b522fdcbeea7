import { describe, expect, it } from 'vitest';
import type { ScannerPolicy, Stage } from '@hookgate/contracts';
import { StagePipeline, type PipelineDeps, type ScannerRoute } from '@hookgate/pipeline';

const policy = (id: string): ScannerPolicy => ({
  id,
  required: true,
  onError: 'tempfail',
  onTimeout: 'tempfail',
  onMissing: 'tempfail',
  onUnscanned: 'accept',
});
const route = (id: string, stages: Stage[]): ScannerRoute => ({ id, stages, policy: policy(id) });

/** `checks` reads only the routes: the services a request would use are never touched. */
function pipeline(scanners: ScannerRoute[], inline: ScannerRoute[] = []): StagePipeline {
  const unused = {} as never;
  const deps: PipelineDeps = {
    store: unused,
    producer: unused,
    waiter: unused,
    instanceId: 'test',
    scanners,
    inline: inline.map((r) => ({ route: r, scanner: unused })),
    settings: unused,
    log: unused,
  };
  return new StagePipeline(deps);
}

describe('StagePipeline.checks: whether anything runs at a stage', () => {
  it('is true only for stages a queued scanner subscribes to', () => {
    const p = pipeline([route('clamav', ['data']), route('rspamd', ['data', 'mail'])]);
    expect((['connect', 'ehlo', 'mail', 'rcpt', 'data'] as const).filter((s) => p.checks(s))).toEqual([
      'mail',
      'data',
    ]);
  });

  it('counts inline checks too', () => {
    const p = pipeline([route('clamav', ['data'])], [route('ratelimit', ['rcpt'])]);
    expect(p.checks('rcpt')).toBe(true);
    expect(p.checks('connect')).toBe(false);
  });

  it('is false everywhere when nothing is configured', () => {
    const p = pipeline([]);
    expect((['connect', 'ehlo', 'mail', 'rcpt', 'data'] as const).some((s) => p.checks(s))).toBe(false);
  });
});
