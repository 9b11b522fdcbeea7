/** Lists of `set`/`add`/`delete` operations, and which paths they may touch. */
import type {
  Draft01AddOperation,
  Draft01DeleteOperation,
  Draft01Operations,
  Draft01SetOperation,
} from '@hookgate/contracts';

/** Operations being collected for one answer. */
export interface OpsBuilder {
  set: Draft01SetOperation[];
  add: Draft01AddOperation[];
  delete: Draft01DeleteOperation[];
}

export function newOps(): OpsBuilder {
  return { set: [], add: [], delete: [] };
}

/** The answer's operations: empty lists are left out. */
export function build(b: OpsBuilder): Draft01Operations {
  const out: Draft01Operations = {};
  if (b.set.length) out.set = b.set;
  if (b.add.length) out.add = b.add;
  if (b.delete.length) out.delete = b.delete;
  return out;
}

export function isEmpty(ops: Draft01Operations): boolean {
  return !ops.set?.length && !ops.add?.length && !ops.delete?.length;
}

/** Whether `path` is one of `paths` or lies inside one of them (`/message/headers/3` inside `/message`). */
export function covered(paths: readonly string[], path: string): boolean {
  return paths.some((p) => path === p || path.startsWith(`${p}/`));
}

/** Keeps only operations on writable paths (a last safety net: hookgate never emits anything else). */
export function filterOps(
  ops: Draft01Operations,
  writable: readonly string[],
): { ops: Draft01Operations; dropped: string[] } {
  const dropped: string[] = [];
  const keep = <T extends { path: string }>(list: T[] | undefined): T[] =>
    (list ?? []).filter((o) => (covered(writable, o.path) ? true : (dropped.push(o.path), false)));
  return { ops: build({ set: keep(ops.set), add: keep(ops.add), delete: keep(ops.delete) }), dropped };
}
