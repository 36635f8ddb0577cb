import { readFileSync } from 'node:fs';
import { LshrsError } from '../errors';
import { float32FromLE } from '../float32';
import { decodeId, type Id, type IdType } from '../ids';
import { LSHRS } from '../lshrs';
import type { IndexDescription, StoreInfo } from '../options';
import { closeRedis, type RedisClient } from '../redis/connection';
import { PostgresVectorStore } from '../stores/postgres';
import { connectUrl } from './connect';
import { fileError } from './errors';

/** Options every command takes (flags, else environment, else defaults: commander resolves them). */
export interface GlobalOptions {
  redis: string;
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

/** The table options, with the flag that sets each. */
const TABLE_FLAGS = {
  table: '--table',
  idColumn: '--id-column',
  vectorColumn: '--vector-column',
  textColumn: '--text-column',
} as const;

type TableField = keyof typeof TABLE_FLAGS;

/** The table a command works on, as recorded in an index's meta. */
export type TableInfo = Required<Pick<StoreInfo, TableField>> & { kind: 'postgres' };

export class CliContext {
  readonly options: GlobalOptions;
  /** Which table options the user typed (the others are defaults, which a recorded table overrides). */
  private readonly given: ReadonlySet<TableField>;
  private table: TableInfo;
  private store?: PostgresVectorStore;
  private opened: LSHRS[] = [];
  private client?: Promise<RedisClient>;
  private described?: Promise<IndexDescription | null>;

  constructor(options: GlobalOptions, given: Iterable<string> = []) {
    this.options = options;
    this.given = new Set([...given].filter((name): name is TableField => name in TABLE_FLAGS));
    this.table = {
      kind: 'postgres',
      table: options.table,
      idColumn: options.idColumn,
      vectorColumn: options.vectorColumn,
      textColumn: options.textColumn === '' ? null : options.textColumn,
    };
  }

  get redisUrl(): string {
    return this.options.redis;
  }

  get databaseUrl(): string | undefined {
    return this.options.database;
  }

  /** The table commands read and write: the index's recorded one unless none is recorded. */
  get tableInfo(): TableInfo {
    return this.table;
  }

  /** The Redis of `--redis`: the one server, or the whole cluster when it is a cluster node. */
  redis(): Promise<RedisClient> {
    this.client ??= connectUrl(this.redisUrl);
    return this.client;
  }

  /**
   * The index under the prefix, described from its meta, or null when there is none. Its recorded
   * table (if any) becomes the command's: table options left out take its values, and a table
   * option that names another is refused, so two indexes' tables are never mixed.
   */
  describeIndex(): Promise<IndexDescription | null> {
    this.described ??= this.readDescription();
    return this.described;
  }

  private async readDescription(): Promise<IndexDescription | null> {
    let bare: LSHRS;
    try {
      bare = await LSHRS.open({ redis: await this.redis(), prefix: this.options.prefix });
    } catch (err) {
      if (err instanceof LshrsError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
    const description = await bare.describe();
    if (description.store?.kind === 'postgres') this.bindTable(description.store);
    return description;
  }

  private bindTable(recorded: StoreInfo): void {
    const stored: TableInfo = {
      kind: 'postgres',
      table: recorded.table ?? this.table.table,
      idColumn: recorded.idColumn ?? this.table.idColumn,
      vectorColumn: recorded.vectorColumn ?? this.table.vectorColumn,
      textColumn: recorded.textColumn === undefined ? this.table.textColumn : recorded.textColumn,
    };
    const conflicts = [...this.given].filter((field) => stored[field] !== this.table[field]);
    if (conflicts.length > 0) {
      const said = conflicts.map((f) => `${TABLE_FLAGS[f]} says ${JSON.stringify(this.table[f] ?? '')}`).join(', ');
      const columns = [stored.idColumn, stored.vectorColumn, stored.textColumn ?? '(no text)'].join(', ');
      throw new LshrsError(
        'PARAMS_MISMATCH',
        `index "${this.options.prefix}" was built from table ${stored.table} (columns ${columns}), and ${said}: ` +
          `leave ${conflicts.length > 1 ? 'those options' : TABLE_FLAGS[conflicts[0]]} out to use the index's table, or give another --prefix for another index`,
      );
    }
    this.table = stored;
  }

  /** The table store, when a database is configured (needed by load, index and reranked queries). */
  vectorStore(required: boolean): PostgresVectorStore | undefined {
    const url = this.databaseUrl;
    if (!url) {
      if (required) throw new LshrsError('NO_STORE', 'this command needs PostgreSQL: pass --database URL or set DATABASE_URL');
      return undefined;
    }
    this.store ??= new PostgresVectorStore({
      connectionString: url,
      table: this.table.table,
      idColumn: this.table.idColumn,
      vectorColumn: this.table.vectorColumn,
      textColumn: this.table.textColumn,
    });
    return this.store;
  }

  /** The existing index under the prefix, with its stored parameters and its table. */
  async openIndex(storeRequired = false): Promise<LSHRS> {
    const description = await this.describeIndex();
    if (!description) throw new LshrsError('NOT_FOUND', `there is no index "${this.options.prefix}" in Redis`);
    const lsh = LSHRS.fromJSON(description, { redis: await this.redis(), store: this.vectorStore(storeRequired) });
    this.opened.push(lsh);
    return lsh;
  }

  /** Refuses to write vectors of `dim` dimensions (from `source`) into an existing index of another dimension. */
  checkDimension(description: IndexDescription | null, dim: number, source: string): void {
    if (description && description.dim !== dim) {
      throw new LshrsError(
        'DIMENSION',
        `index "${this.options.prefix}" holds ${description.dim}-dimensional vectors and ${source} has ${dim}: give another --prefix for a new index`,
      );
    }
  }

  /**
   * The existing index, or a new one of dimension `dim` shaped by the flags. With no shape flags, a
   * new index is planned for `--expected-size`, or else for `sizeHint()` (the rows about to be indexed).
   * An existing index of another dimension is refused here, before anything is written.
   */
  async openOrCreate(dim: number, flags: ShapeFlags, source: string, sizeHint?: () => Promise<number>): Promise<{ lsh: LSHRS; created: boolean }> {
    const description = await this.describeIndex();
    if (description) {
      this.checkDimension(description, dim, source);
      return { lsh: await this.openIndex(true), created: false };
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
    return { lsh, created: true };
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
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw fileError(path, err);
  }
  if (path.endsWith('.f32')) {
    if (bytes.length % 4 !== 0) {
      throw new LshrsError('DIMENSION', `${path} has ${bytes.length} bytes, not a whole number of float32 values (4 bytes each)`);
    }
    return Array.from(float32FromLE(bytes));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'number')) {
    throw new LshrsError('BAD_OPTION', `${path} is neither a JSON array of numbers nor a .f32 file`);
  }
  return parsed;
}
