/** Every fuzz target by name: one per parser of untrusted input. */
import type { Target } from './harness.js';
import { HTTP_TARGETS } from './http-targets.js';
import { MILTER_TARGETS } from './milter-targets.js';

export const TARGETS: Record<string, () => Target<unknown>> = {
  ...HTTP_TARGETS,
  ...MILTER_TARGETS,
} as Record<string, () => Target<unknown>>;

export const TARGET_NAMES = Object.keys(TARGETS);
