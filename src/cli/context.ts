import { readFileSync } from 'node:fs';
import { LshrsError } from '../errors';
import { float32FromLE } from '../float32';
import { decodeId, type Id, type IdType } from '../ids';
import { LSHRS } from '../lshrs';
import { closeRedis, type RedisClient } from '../redis/connection';
import { PostgresVectorStore } from '../stores/postgres';
import { connectUrl } from './connect';

/** Options every command takes (flags, else environment, else defaults). */
export interface GlobalOptions {
  redis?: string;
  database?: string;
  prefix: string;
  table: string;
  idColumn: string;
  vectorColumn: string;
  textColumn: string;
  json?: boolean;
}

/** Options that shape a new index (ignored when the index exists: its stored ones win). */
export interface ShapeFlags {
  seed?: string;
  numPerm?: string;
  bands?: string;
  rows?: string;
  shards?: string;
  expectedSize?: string;
}

export class CliContext {
  readonly options: GlobalOptions;
  private store?: PostgresVectorStore;
  private opened: LSHRS[] = [];
  private client?: Promise<RedisClient>;

  constructor(options: GlobalOptions) {
    this.options = options;
  }

  get redisUrl(): string {
    return this.options.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  }

  /** The Redis of `--redis`: the one server, or the whole cluster when it is a cluster node. */
  redis(): Promise<RedisClient> {
    this.client ??= connectUrl(this.redisUrl);
    return this.client;
  }

  /** The table store, when a database is configured (needed by load, index and reranked queries). */
  vectorStore(required: boolean): PostgresVectorStore | undefined {
    const url = this.options.database ?? process.env.DATABASE_URL;
    if (!url) {
      if (required) throw new LshrsError('NO_STORE', 'this command needs PostgreSQL: pass --database URL or set DATABASE_URL');
      return undefined;
    }
    this.store ??= new PostgresVectorStore({
      connectionString: url,
      table: this.options.table,
      idColumn: this.options.idColumn,
      vectorColumn: this.options.vectorColumn,
      textColumn: this.options.textColumn === '' ? null : this.options.textColumn,
    });
    return this.store;
  }

  /** The existing index under the prefix, with its stored parameters. */
  async openIndex(storeRequired = false): Promise<LSHRS> {
    const lsh = await LSHRS.open({ redis: await this.redis(), prefix: this.options.prefix, store: this.vectorStore(storeRequired) });
    this.opened.push(lsh);
    return lsh;
  }

  /**
   * The existing index, or a new one of dimension `dim` shaped by the flags. With no shape flags, a
   * new index is planned for `--expected-size`, or else for `sizeHint()` (the rows about to be indexed).
   */
  async openOrCreate(dim: number, flags: ShapeFlags, sizeHint?: () => Promise<number>): Promise<LSHRS> {
    try {
      return await this.openIndex(true);
    } catch (err) {
      if (!(err instanceof LshrsError && err.code === 'NOT_FOUND')) throw err;
    }
    const seed = flags.seed === undefined ? undefined : /^-?\d+$/.test(flags.seed) ? Number(flags.seed) : flags.seed;
    const planned = flags.bands === undefined && flags.rows === undefined && flags.numPerm === undefined;
    let expectedSize = optionalInt(flags.expectedSize, '--expected-size');
    if (expectedSize === undefined && planned && sizeHint) expectedSize = Math.max(1, await sizeHint());
    const lsh = new LSHRS({
      redis: await this.redis(),
      prefix: this.options.prefix,
      store: this.vectorStore(true),
      dim,
      seed,
      numPerm: optionalInt(flags.numPerm, '--num-perm'),
      numBands: optionalInt(flags.bands, '--bands'),
      rowsPerBand: optionalInt(flags.rows, '--rows'),
      shards: optionalInt(flags.shards, '--shards'),
      expectedSize,
    });
    this.opened.push(lsh);
    return lsh;
  }

  async close(): Promise<void> {
    for (const lsh of this.opened) await lsh.close();
    if (this.opened.length === 0) await this.store?.close();
    const client = await this.client?.catch(() => undefined);
    if (client) await closeRedis(client);
  }
}

export function optionalInt(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new LshrsError('BAD_OPTION', `${flag} must be an integer, got ${raw}`);
  return n;
}

export function optionalNumber(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new LshrsError('BAD_OPTION', `${flag} must be a number, got ${raw}`);
  return n;
}

/** An id typed on the command line, read as the index's id type. */
export async function parseId(lsh: LSHRS, raw: string): Promise<Id> {
  const { idType } = await lsh.describe();
  return typedId(raw, idType ?? 'str');
}

export function typedId(raw: string, idType: IdType): Id {
  if (idType === 'int' && !/^\d+$/.test(raw)) throw new LshrsError('BAD_ID', `the index holds integer ids; "${raw}" is not one`);
  return decodeId(raw, idType);
}

/** A query vector from a file: a JSON array of numbers, or raw little-endian float32 (.f32). */
export function readVectorFile(path: string): number[] {
  const bytes = readFileSync(path);
  if (path.endsWith('.f32')) {
    if (bytes.length % 4 !== 0) {
      throw new LshrsError('DIMENSION', `${path} has ${bytes.length} bytes, not a whole number of float32 values (4 bytes each)`);
    }
    return Array.from(float32FromLE(bytes));
  }
  const parsed: unknown = JSON.parse(bytes.toString('utf8'));
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'number')) {
    throw new LshrsError('DIMENSION', `${path} is neither a JSON array of numbers nor a .f32 file`);
  }
  return parsed;
}
