/**
 * Capability negotiation (draft-01 §"Discovery", §"Registration"): the discovery document, what a registration
 * request negotiates, and what a registration may then be sent and may write. Pure functions;
 * docs/protocols/draft01.md records how each ambiguity of the draft was read (always the reading that keeps mail
 * safe).
 */
import {
  DRAFT01_ERRORS,
  DRAFT01_INBOUND_FETCH,
  DRAFT01_INBOUND_STAGES,
  DRAFT01_INBOUND_UPDATE,
  DRAFT01_OUTBOUND_ACTIONS,
  DRAFT01_OUTBOUND_FETCH,
  DRAFT01_OUTBOUND_STAGES,
  DRAFT01_OUTBOUND_UPDATE,
  DRAFT01_REQUIRED_PROPERTIES,
  DRAFT01_SERIALIZATIONS,
  type Draft01Direction,
  type Draft01Discovery,
  type Draft01Negotiated,
  type Draft01Registration,
  type Draft01RegistrationRequest,
  type Draft01Serialization,
} from '@hookgate/contracts';
import { checkFilter } from './filters.js';
import { covered } from './operations.js';
import { fail, type Result } from './problems.js';
import { endpointsOf, type Draft01Settings } from './settings.js';

/** What hookgate sets in answers: `disconnect` is never sent (hookgate has no such verdict). */
const INBOUND_ANSWER_ACTIONS = ['accept', 'reject', 'discard', 'quarantine'] as const;

/** The discovery document: exactly what hookgate supports. */
export function discoveryDocument(s: Draft01Settings): Draft01Discovery {
  const e = endpointsOf(s.basePath);
  return {
    version: '1.0',
    endpoints: { registration: e.registration, deregistration: e.deregistrationTemplate },
    serialization: [...DRAFT01_SERIALIZATIONS],
    capabilities: {
      inbound: {
        stages: [...DRAFT01_INBOUND_STAGES],
        actions: [...INBOUND_ANSWER_ACTIONS],
        fetchProperties: [...DRAFT01_INBOUND_FETCH],
        updateProperties: [...DRAFT01_INBOUND_UPDATE],
      },
      outbound: {
        stages: [...DRAFT01_OUTBOUND_STAGES],
        actions: [...DRAFT01_OUTBOUND_ACTIONS],
        fetchProperties: [...DRAFT01_OUTBOUND_FETCH],
        updateProperties: [...DRAFT01_OUTBOUND_UPDATE],
      },
    },
    limits: {
      maxMessageSize: s.maxMessageSize,
      maxRegistrations: s.maxRegistrations,
      timeoutMs: s.defaultTimeoutMs,
    },
    extensions: null,
  };
}

/** RFC 6901 JSON Pointer syntax (non-empty). */
const POINTER = /^(\/([^~/]|~[01])*)+$/;

function negotiateDirection(
  dir: Draft01Direction,
  sub: NonNullable<Draft01RegistrationRequest['inbound']>,
): Result<Draft01Negotiated | null> {
  const validStages: readonly string[] = dir === 'inbound' ? DRAFT01_INBOUND_STAGES : DRAFT01_OUTBOUND_STAGES;
  const bad = sub.stages.find((s) => !validStages.includes(s));
  if (bad !== undefined)
    return fail(
      DRAFT01_ERRORS.INVALID_STAGE,
      `${dir} stage "${bad.slice(0, 32)}" is not one of ${validStages.join(', ')}`,
    );
  const actions: readonly string[] = dir === 'inbound' ? INBOUND_ANSWER_ACTIONS : DRAFT01_OUTBOUND_ACTIONS;
  const badAction = (sub.actions ?? []).find((a) => !actions.includes(a));
  if (badAction !== undefined)
    return fail(
      DRAFT01_ERRORS.INVALID_ACTION,
      `${dir} action "${badAction.slice(0, 32)}" is not one of ${actions.join(', ')}`,
    );
  if (sub.stages.length === 0) return { ok: true, value: null };
  const supported: readonly string[] = dir === 'inbound' ? DRAFT01_INBOUND_FETCH : DRAFT01_OUTBOUND_FETCH;
  let properties: string[];
  if (sub.properties === null || sub.properties === undefined) {
    properties = [...supported];
  } else {
    const notPointer = sub.properties.find((p) => !POINTER.test(p));
    if (notPointer !== undefined)
      return fail(
        DRAFT01_ERRORS.INVALID_REQUEST,
        `${dir}.properties: "${notPointer.slice(0, 64)}" is not a JSON Pointer`,
      );
    // The intersection: a nested pointer is kept when its top-level property is supported.
    properties = sub.properties.filter(
      (p, i, all) => all.indexOf(p) === i && supported.includes(`/${p.split('/')[1] ?? ''}`),
    );
  }
  const missing = DRAFT01_REQUIRED_PROPERTIES.filter((r) => !properties.includes(r));
  if (missing.length > 0) {
    return fail(
      DRAFT01_ERRORS.CAPABILITY_MISMATCH,
      `${dir}.properties must include ${missing.join(', ')} (hookgate routes hook calls by stage)`,
    );
  }
  // Stages exactly as requested, in the requested order (the rspamd bridge refuses any other list).
  return { ok: true, value: { stages: [...sub.stages], properties } };
}

export interface Negotiation {
  serialization: Draft01Serialization;
  inbound: Draft01Negotiated | null;
  outbound: Draft01Negotiated | null;
}

/** Validates a registration request and computes what is negotiated; errors carry the draft's codes. */
export function negotiate(req: Draft01RegistrationRequest): Result<Negotiation> {
  if (!(DRAFT01_SERIALIZATIONS as readonly string[]).includes(req.serialization)) {
    return fail(
      DRAFT01_ERRORS.CAPABILITY_MISMATCH,
      `serialization "${req.serialization.slice(0, 32)}" is not one of ${DRAFT01_SERIALIZATIONS.join(', ')}`,
    );
  }
  const inbound = req.inbound
    ? negotiateDirection('inbound', req.inbound)
    : ({ ok: true, value: null } as const);
  if (!inbound.ok) return inbound;
  const outbound = req.outbound
    ? negotiateDirection('outbound', req.outbound)
    : ({ ok: true, value: null } as const);
  if (!outbound.ok) return outbound;
  if (!inbound.value && !outbound.value) return fail(DRAFT01_ERRORS.NO_STAGES_REQUESTED);
  const filter = checkFilter(req.filter);
  if (filter) return { ok: false, ...filter };
  return {
    ok: true,
    value: {
      serialization: req.serialization as Draft01Serialization,
      inbound: inbound.value,
      outbound: outbound.value,
    },
  };
}

/** The direction a stage belongs to in this registration, or undefined when it did not subscribe to the stage. */
export function directionOf(
  reg: Pick<Draft01Registration, 'inbound' | 'outbound'>,
  stage: string,
): Draft01Direction | undefined {
  if (reg.inbound?.stages.includes(stage)) return 'inbound';
  if (reg.outbound?.stages.includes(stage)) return 'outbound';
  return undefined;
}

/**
 * The paths hookgate may write for a registration and direction. draft-01 never negotiates `updateProperties`
 * (its §"Registration" gap), so hookgate derives them: a path from its advertised `updateProperties` is writable
 * when the registration negotiated the property it lives in (hookgate never changes what the MTA did not show
 * it). `/action` and `/response` are always writable (they are how any verdict is given). `/message/headers` is
 * writable with `/message` or with `/rawMessage`: a header edit is an edit of the message the MTA sent, and the
 * rspamd bridge, which sends only `/rawMessage`, applies header edits.
 */
export function writablePaths(negotiated: Draft01Negotiated, dir: Draft01Direction): string[] {
  const props = negotiated.properties;
  const candidates: readonly string[] =
    dir === 'inbound' ? DRAFT01_INBOUND_UPDATE : [...DRAFT01_OUTBOUND_UPDATE, '/message/headers'];
  return candidates.filter((w) => {
    if (w === '/action' || w === '/response') return true;
    if (w === '/message/headers' && covered(props, '/rawMessage')) return true;
    return covered(props, w);
  });
}
