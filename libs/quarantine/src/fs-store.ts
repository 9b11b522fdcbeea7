import { mkdir, open, readdir, readFile, rename, rm, stat, appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ERR, HookgateError } from '@hookgate/contracts';
import { idTime, isId } from './ids.js';
import { cursorOf, matches, pageLimit, parseCursor, summarize } from './filter.js';
import type {
  AuditEntry,
  ClaimResult,
  ItemMeta,
  ItemOutcome,
  ItemStatus,
  ItemSummary,
  ListFilter,
  ListPage,
  QuarantineStore,
  RemoveResult,
  StoredItem,
  Usage,
} from './types.js';

export interface FsQuarantineOptions {
  directory: string;
  maxBytes: number;
  /** How long an item (tombstone included) is kept, ms: the sweep deletes files of older ids. */
  retentionMs: number;
  /** How often the directory is swept for expired items and the byte count re-read, ms. Default 60 s. */
  sweepMs?: number;
}

/** The state file of an item; the message, its header section and its audit lines sit next to it. */
interface ItemFile {
  meta: ItemMeta;
  status: ItemStatus;
  outcome?: ItemOutcome;
  /** The header section, base64. */
  head: string;
}

/**
 * The quarantine in a directory, for volumes Redis should not hold. Per item: `<id>.eml` (the message, removed on
 * release or deletion), `<id>.json` (metadata and status, replaced atomically by rename), `<id>.audit` (JSON lines)
 * and, while a release or deletion runs, `<id>.lock` (created exclusively). `audit.log` has every action.
 *
 * Several processes may share the directory (a volume mounted by every ingress replica): status changes are
 * exclusive through the lock file, but the size cap is counted per process between sweeps (every `sweepMs`, each
 * process re-reads the directory), so it can be exceeded by what the replicas keep within one sweep interval.
 */
export class FsQuarantineStore implements QuarantineStore {
  readonly kind = 'filesystem';
  readonly #dir: string;
  readonly #o: FsQuarantineOptions;
  #bytes = 0;
  #held = 0;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  private constructor(options: FsQuarantineOptions) {
    this.#dir = options.directory;
    this.#o = options;
  }

  /** Creates the directory if needed, counts what it holds and starts the periodic sweep. */
  static async open(options: FsQuarantineOptions): Promise<FsQuarantineStore> {
    const store = new FsQuarantineStore(options);
    await mkdir(options.directory, { recursive: true, mode: 0o700 });
    await store.sweep(Date.now());
    store.#timer = setInterval(
      () => void store.sweep(Date.now()).catch(() => undefined),
      options.sweepMs ?? 60_000,
    );
    store.#timer.unref();
    return store;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  #path(id: string, ext: string): string {
    return join(this.#dir, `${id}.${ext}`);
  }

  /** Deletes expired items and re-reads the byte count from the directory. */
  async sweep(now: number): Promise<void> {
    this.#sweeping ??= (async () => {
      try {
        let bytes = 0;
        let held = 0;
        const names = await readdir(this.#dir);
        for (const name of names) {
          const id = name.slice(0, name.indexOf('.'));
          if (!isId(id)) continue;
          if (idTime(id) + this.#o.retentionMs <= now) {
            await rm(join(this.#dir, name), { force: true });
            continue;
          }
          if (name.endsWith('.eml')) {
            const s = await stat(join(this.#dir, name)).catch(() => undefined);
            if (s) {
              bytes += s.size;
              held++;
            }
          }
        }
        this.#bytes = bytes;
        this.#held = held;
      } finally {
        this.#sweeping = undefined;
      }
    })();
    return this.#sweeping;
  }

  async keep(meta: ItemMeta, message: Uint8Array, head: Uint8Array, audit: AuditEntry): Promise<void> {
    if (this.#bytes + meta.size > this.#o.maxBytes) {
      throw new HookgateError(
        ERR.QUARANTINE_FULL,
        `quarantine full: ${meta.size} bytes do not fit under the cap of ${this.#o.maxBytes}`,
        { retryable: true },
      );
    }
    // The message first, then the state file: an item exists once its state file does.
    await atomicWrite(this.#path(meta.id, 'eml'), message);
    await atomicWrite(
      this.#path(meta.id, 'json'),
      JSON.stringify({ meta, status: 'held', head: Buffer.from(head).toString('base64') } satisfies ItemFile),
    );
    this.#bytes += meta.size;
    this.#held++;
    await this.record(audit);
  }

  async #read(id: string): Promise<ItemFile | undefined> {
    try {
      return JSON.parse(await readFile(this.#path(id, 'json'), 'utf8')) as ItemFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(filter: ListFilter, now: number): Promise<ListPage> {
    const limit = pageLimit(filter.limit);
    const after = parseCursor(filter.cursor);
    const ids = (await readdir(this.#dir))
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -5))
      .filter((id) => isId(id) && idTime(id) + this.#o.retentionMs > now)
      .sort()
      .reverse();
    const items: ItemSummary[] = [];
    let scanned = 0;
    for (const id of ids) {
      const t = idTime(id);
      if (after && (t > after.keptAt || (t === after.keptAt && id >= after.id))) continue;
      if (filter.until !== undefined && t > filter.until) continue;
      if (filter.since !== undefined && t < filter.since) break;
      const f = await this.#read(id);
      scanned++;
      if (f) {
        const row = summarize(f.meta, f.status, f.outcome);
        if (matches(row, filter)) items.push(row);
      }
      if (items.length >= limit || scanned >= 5_000) return { items, next: cursorOf({ keptAt: t, id }) };
    }
    return { items };
  }

  async get(id: string, body: boolean): Promise<StoredItem | undefined> {
    const f = await this.#read(id);
    if (!f) return undefined;
    const message = body ? await readFile(this.#path(id, 'eml')).catch(() => undefined) : undefined;
    const audit = await readFile(this.#path(id, 'audit'), 'utf8').catch(() => '');
    return {
      meta: f.meta,
      status:
        (await this.#locked(id, Date.now(), Number.MAX_SAFE_INTEGER)) && f.status === 'held'
          ? 'releasing'
          : f.status,
      ...(f.outcome ? { outcome: f.outcome } : {}),
      head: Buffer.from(f.head, 'base64'),
      ...(message ? { message } : {}),
      audit: audit
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditEntry),
    };
  }

  /** Whether a fresh lock exists (a release or deletion is running). */
  async #locked(id: string, now: number, staleMs: number): Promise<boolean> {
    const s = await stat(this.#path(id, 'lock')).catch(() => undefined);
    return s !== undefined && s.mtimeMs > now - staleMs;
  }

  /** Takes the item's lock; a lock older than `staleMs` was left by a process that died and is taken over. */
  async #lock(id: string, now: number, staleMs: number): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const h = await open(this.#path(id, 'lock'), 'wx');
        await h.close();
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (await this.#locked(id, now, staleMs)) return false;
        await rm(this.#path(id, 'lock'), { force: true });
      }
    }
    return false;
  }

  async claim(id: string, now: number, staleMs: number): Promise<ClaimResult> {
    const f = await this.#read(id);
    if (!f) return { ok: false, why: 'not-found' };
    if (f.status === 'released' || f.status === 'deleted') return { ok: false, why: f.status };
    if (!(await this.#lock(id, now, staleMs))) return { ok: false, why: 'busy' };
    // Read again under the lock: another process may have finished a release just before.
    const locked = await this.#read(id);
    if (!locked || locked.status !== 'held') {
      await rm(this.#path(id, 'lock'), { force: true });
      return { ok: false, why: !locked ? 'not-found' : locked.status === 'deleted' ? 'deleted' : 'released' };
    }
    try {
      return { ok: true, meta: locked.meta, message: await readFile(this.#path(id, 'eml')) };
    } catch (err) {
      await rm(this.#path(id, 'lock'), { force: true });
      throw err;
    }
  }

  async settle(
    id: string,
    result: { released: true; outcome: ItemOutcome } | { released: false },
    audit: AuditEntry,
  ): Promise<void> {
    try {
      if (result.released) await this.#drop(id, 'released', result.outcome);
    } finally {
      await rm(this.#path(id, 'lock'), { force: true });
    }
    await this.record(audit);
  }

  /** Marks the item released or deleted and removes its message. */
  async #drop(id: string, status: 'released' | 'deleted', outcome: ItemOutcome): Promise<void> {
    const f = await this.#read(id);
    if (!f) return;
    await atomicWrite(this.#path(id, 'json'), JSON.stringify({ ...f, status, outcome } satisfies ItemFile));
    const s = await stat(this.#path(id, 'eml')).catch(() => undefined);
    await rm(this.#path(id, 'eml'), { force: true });
    if (s) {
      this.#bytes = Math.max(0, this.#bytes - s.size);
      this.#held = Math.max(0, this.#held - 1);
    }
  }

  async remove(
    id: string,
    outcome: ItemOutcome,
    audit: AuditEntry,
    now: number,
    staleMs: number,
  ): Promise<RemoveResult> {
    const f = await this.#read(id);
    if (!f) return 'not-found';
    if (f.status === 'deleted') return 'already-deleted';
    if (!(await this.#lock(id, now, staleMs))) return 'busy';
    try {
      const again = await this.#read(id);
      if (!again) return 'not-found';
      if (again.status === 'deleted') return 'already-deleted';
      await this.#drop(id, 'deleted', outcome);
    } finally {
      await rm(this.#path(id, 'lock'), { force: true });
    }
    await this.record(audit);
    return 'deleted';
  }

  async record(audit: AuditEntry): Promise<void> {
    const line = `${JSON.stringify(audit)}\n`;
    // O_APPEND writes of one short line do not interleave between processes.
    await appendFile(this.#path(audit.id, 'audit'), line);
    await appendFile(join(this.#dir, 'audit.log'), line);
  }

  async auditTrail(limit: number): Promise<AuditEntry[]> {
    // The newest lines only: the log grows until the operator rotates it.
    const path = join(this.#dir, 'audit.log');
    const size = (await stat(path).catch(() => undefined))?.size ?? 0;
    const from = Math.max(0, size - limit * 1024);
    const h = await open(path, 'r').catch(() => undefined);
    if (!h) return [];
    const buf = Buffer.alloc(size - from);
    try {
      await h.read(buf, 0, buf.length, from);
    } finally {
      await h.close();
    }
    const lines = buf.toString('utf8').split('\n');
    if (from > 0) lines.shift();
    return lines
      .filter(Boolean)
      .slice(-limit)
      .reverse()
      .map((l) => JSON.parse(l) as AuditEntry);
  }

  async usage(): Promise<Usage> {
    return { bytes: this.#bytes, held: this.#held, maxBytes: this.#o.maxBytes };
  }
}

async function atomicWrite(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, path);
}
