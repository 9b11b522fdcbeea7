/** What the operator configured for draft-01 (protocols.draft01 in the config). */
export interface Draft01Settings {
  /** Path prefix of the registration and hook endpoints, e.g. `/mta-hooks/v1`. */
  basePath: string;
  /** Largest hook request body accepted, bytes (discovery `limits.maxMessageSize`; above it: 413). */
  maxMessageSize: number;
  /** Live registrations per MTA identity (discovery `limits.maxRegistrations`; above it: 409). */
  maxRegistrations: number;
  /** Longest registration lifetime, ms; an MTA asking for a later `expiresAt` gets this. */
  registrationTtlMs: number;
  /** The hook timeout assumed when an MTA declares none, ms (discovery `limits.timeoutMs`). */
  defaultTimeoutMs: number;
  /** Hook calls handled at once by this ingress instance; beyond it: 503 with Retry-After. */
  maxInFlight: number;
  /** Hook calls of one registration handled at once by this instance; beyond it: 429 with Retry-After. */
  maxInFlightPerRegistration: number;
  /** false: registration answers 503 REGISTRATION_DISABLED (existing registrations keep working). */
  registrationEnabled: boolean;
  /** Identities allowed to register; empty = every authenticated identity. Others get 403 REGISTRATION_DENIED. */
  allowedIdentities: readonly string[];
}

/** The paths of the draft-01 endpoints under `basePath`. */
export function endpointsOf(basePath: string) {
  return {
    registration: `${basePath}/registrations`,
    deregistrationTemplate: `${basePath}/registrations/{registration_id}`,
    registrationResource: (id: string) => `${basePath}/registrations/${id}`,
    status: (id: string) => `${basePath}/registrations/${id}/status`,
    hook: (id: string) => `${basePath}/hooks/${id}`,
  };
}
