import pg from 'pg';
import { LshrsError } from '../errors';
import type { Id, IdType } from '../ids';
import { float32FromLE, float32ToLE } from '../float32';
import { quoteIdent } from '../sql';
import { checkOptionNames, optionNames } from '../validate';
import { checkColumnNames, type Filter, type FilterNode, parseFilter } from './filter';
import { type CatalogColumn, type CompiledFilter, compileFilter } from './postgres-filter';
import type { MatchEstimate, MatchRequest, ScannedRow, StoredItem, StoreWrite, VectorStore } from './types';

export interface PostgresVectorStoreOptions {
  /** A pool the host already holds; lshrs never ends it. */
  pool?: pg.Pool;
  /** Or a connection string: lshrs opens a pool and `close()` ends it. */
  connectionString?: string;
  /** The table, optionally schema-qualified ("public.items"). */
  table: string;
  /** @defaultValue "id" */
  idColumn?: string;
  /** `real[]`, `double precision[]`, `bytea` (float32, little-endian) or pgvector's `vector`. @defaultValue "embedding" */
  vectorColumn?: string;
  /** A text column returned with each hit, or `null` for none. @defaultValue "text" */
  textColumn?: string | null;
  /** Leave the table to the host: ingest and delete touch only the index. @defaultValue false */
  readOnly?: boolean;
}

export interface CreateTableOptions {
  /** @defaultValue "bigint" */
  idType?: 'bigint' | 'text';
  /** @defaultValue "bytea" (float32, little-endian) */
  vectorType?: 'bytea' | 'real[]' | 'double precision[]' | 'vector';
  /** The dimension, for a pgvector column. */
  dim?: number;
  /** @defaultValue "id" */
  idColumn?: string;
  /** @defaultValue "embedding" */
  vectorColumn?: string;
  /** `null` for none. @defaultValue "text" */
  textColumn?: string | null;
  /** A jsonb column for other data of each row (filters reach its keys as `column.key`), with a GIN index. @defaultValue none */
  metadataColumn?: string;
}

const STORE_OPTIONS = optionNames<PostgresVectorStoreOptions>({
  pool: true,
  connectionString: true,
  table: true,
  idColumn: true,
  vectorColumn: true,
  textColumn: true,
  readOnly: true,
});
const TABLE_OPTIONS = optionNames<CreateTableOptions & { table: string }>({
  table: true,
  idType: true,
  vectorType: true,
  dim: true,
  idColumn: true,
  vectorColumn: true,
  textColumn: true,
  metadataColumn: true,
});

type VectorKind = 'float4[]' | 'float8[]' | 'bytea' | 'vector';

/** A row as the select list returns it: the id as text, the vector in binary form, the text. */
interface RawRow {
  id: string;
  v: Buffer | null;
  t?: string | null;
  /** The requested columns, as `c0`, `c1`, ... */
  [extra: string]: unknown;
}

/** Rows an exact scan of the matching rows reads per round trip. */
const SCAN_PAGE = 4096;

const KIND_BY_TYPNAME: Record<string, VectorKind> = {
  _float4: 'float4[]',
  _float8: 'float8[]',
  bytea: 'bytea',
  vector: 'vector',
};

function quoteTable(table: string): string {
  const parts = table.split('.');
  if (parts.length > 2 || parts.some((p) => p.length === 0)) {
    throw new LshrsError('BAD_OPTION', `table must be "name" or "schema.name", got ${JSON.stringify(table)}`);
  }
  return parts.map(quoteIdent).join('.');
}

interface TableShape {
  kind: VectorKind;
  /** The id column's SQL type, as format_type names it (for casts). */
  idSqlType: string;
  /** ` COLLATE "schema"."name"` when the id column has a collation other than the database's. */
  idCollate: string;
  idType: IdType;
  hasText: boolean;
  /** Every column of the table, for filters, `columns` and `row`. */
  columns: Map<string, CatalogColumn>;
}

/** A filter and columns as SQL for one statement, its own parameters first. */
interface PreparedMatch {
  shape: TableShape;
  filter: CompiledFilter | null;
  /** The select list's extra part (`, "year" AS "c0"`) and the names it returns. */
  extra: string;
  columns: string[];
}

const INTEGER_TYPES = new Set(['int2', 'int4', 'int8']);

/**
 * Binary array format (array_send): header, dimensions, then length-prefixed big-endian elements.
 * Returns the index of the first NULL element instead, which no vector can hold.
 */
function decodeArraySend(bytes: Buffer, width: 4 | 8): Float32Array | number {
  const ndim = bytes.readInt32BE(0);
  let offset = 12 + 8 * ndim;
  const count = ndim === 0 ? 0 : bytes.readInt32BE(12);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const len = bytes.readInt32BE(offset);
    offset += 4;
    if (len < 0) return i;
    out[i] = width === 4 ? bytes.readFloatBE(offset) : bytes.readDoubleBE(offset);
    offset += len;
  }
  return out;
}

/** A call failed because PostgreSQL could not be reached (or the connection was lost), on a pool lshrs opened. */
export class PostgresUnreachableError extends Error {
  constructor(address: string, reason: string, cause: unknown) {
    super(`cannot reach PostgreSQL at ${address}: ${reason}`, { cause });
    this.name = 'PostgresUnreachableError';
  }
}

/** A connection that could not be made or was lost, as opposed to an error the server sent. */
function connectionFailure(err: unknown): string | undefined {
  if (!(err instanceof Error) || err instanceof pg.DatabaseError) return undefined;
  const { syscall, code } = err as { syscall?: unknown; code?: unknown };
  if (typeof syscall === 'string' && typeof code === 'string') return `${syscall} ${code}`; // "connect ECONNREFUSED"
  return /^Connection terminated|^timeout expired/.test(err.message) ? err.message : undefined;
}

/**
 * How long a write may hold its rows while it changes the index: past it, PostgreSQL ends the
 * session (and with it the hold), so a Redis that hangs never pins the host's rows for longer.
 */
const HOLD_LIMIT_MS = 60_000;

/** A delete retries ids whose rows a concurrent write created meanwhile; a few rounds at most. */
const DELETE_ROUNDS = 10;

/** pgvector's binary format (vector_send): int16 dim, int16 unused, big-endian float4s. */
function decodeVectorSend(bytes: Buffer): Float32Array {
  const dim = bytes.readInt16BE(0);
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = bytes.readFloatBE(4 + 4 * i);
  return out;
}

function vectorLiteral(kind: VectorKind, vector: Float32Array): string {
  switch (kind) {
    case 'bytea':
      return `\\x${float32ToLE(vector).toString('hex')}`;
    case 'vector':
      return `[${Array.prototype.join.call(vector, ',')}]`;
    default:
      return `{${Array.prototype.join.call(vector, ',')}}`;
  }
}

/**
 * Vectors in a PostgreSQL table of the user's: `id, embedding, text`. All candidates of a query
 * are fetched in one statement; values are always parameters, identifiers always quoted.
 */
export class PostgresVectorStore implements VectorStore {
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  /** `host:port` of a pool lshrs opened, for its connection errors. */
  private readonly address?: string;
  private readonly table: string;
  private readonly tableName: string;
  private readonly columnNames: { id: string; vector: string; text: string | null };
  private readonly idColumn: string;
  private readonly vectorColumn: string;
  private readonly textColumn: string | null;
  readonly readOnly: boolean;
  private shape?: Promise<TableShape>;

  constructor(options: PostgresVectorStoreOptions) {
    checkOptionNames(options, STORE_OPTIONS, 'PostgresVectorStore');
    if (options.pool) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else if (options.connectionString) {
      this.pool = new pg.Pool({ connectionString: options.connectionString, max: 4 });
      this.ownsPool = true;
      // An idle connection the server ends (a restart, pg_terminate_backend: 57P01) is an 'error'
      // event on the pool; unheard, it would kill the process. pg drops that connection and the next
      // call opens a new one, which works, or fails with the reason.
      this.pool.on('error', () => undefined);
      const { host, port } = new pg.Client({ connectionString: options.connectionString });
      this.address = `${host}:${port}`;
    } else {
      throw new LshrsError('BAD_OPTION', 'PostgresVectorStore needs a pool or a connectionString');
    }
    this.tableName = options.table;
    this.table = quoteTable(options.table);
    this.columnNames = {
      id: options.idColumn ?? 'id',
      vector: options.vectorColumn ?? 'embedding',
      text: options.textColumn === null ? null : (options.textColumn ?? 'text'),
    };
    this.idColumn = quoteIdent(this.columnNames.id);
    this.vectorColumn = quoteIdent(this.columnNames.vector);
    this.textColumn = this.columnNames.text === null ? null : quoteIdent(this.columnNames.text);
    this.readOnly = options.readOnly ?? false;
    if (this.readOnly) {
      // A read-only store offers no writes at all, so the index never assumes it wrote a row.
      (this as { upsert?: unknown }).upsert = undefined;
      (this as { delete?: unknown }).delete = undefined;
      (this as { withRowLocks?: unknown }).withRowLocks = undefined;
      (this as { deleteWithRowLocks?: unknown }).deleteWithRowLocks = undefined;
    }
  }

  /**
   * Creates a table lshrs can use, if absent: an id primary key, an embedding (float32 `bytea` by
   * default: the fastest to fetch) and a text column.
   */
  static async createTable(pool: pg.Pool, options: CreateTableOptions & { table: string }): Promise<void> {
    checkOptionNames(options, TABLE_OPTIONS, 'createTable');
    const idType = options.idType ?? 'bigint';
    const vectorType = options.vectorType ?? 'bytea';
    if (!['bigint', 'text'].includes(idType) || !['bytea', 'real[]', 'double precision[]', 'vector'].includes(vectorType)) {
      throw new LshrsError('BAD_OPTION', `unsupported idType ${idType} or vectorType ${vectorType}`);
    }
    const column = vectorType === 'vector' && options.dim ? `vector(${Math.trunc(options.dim)})` : vectorType;
    const id = quoteIdent(options.idColumn ?? 'id');
    const vector = quoteIdent(options.vectorColumn ?? 'embedding');
    const text = options.textColumn === null ? '' : `, ${quoteIdent(options.textColumn ?? 'text')} text`;
    const metadata = options.metadataColumn === undefined ? '' : `, ${quoteIdent(options.metadataColumn)} jsonb NOT NULL DEFAULT '{}'`;
    const table = quoteTable(options.table);
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (${id} ${idType} PRIMARY KEY, ${vector} ${column} NOT NULL${text}${metadata})`);
    if (options.metadataColumn !== undefined) {
      const name = `${options.table.split('.').pop()}_${options.metadataColumn}_gin`.slice(0, 63);
      await pool.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(name)} ON ${table} USING gin (${quoteIdent(options.metadataColumn)})`);
    }
  }

  /** {@link PostgresVectorStore.createTable} for this store's table and column names. */
  async createTableIfMissing(options: Pick<CreateTableOptions, 'idType' | 'vectorType' | 'dim'> = {}): Promise<void> {
    await this.pg(
      PostgresVectorStore.createTable(this.pool, {
        ...options,
        table: this.tableName,
        idColumn: this.columnNames.id,
        vectorColumn: this.columnNames.vector,
        textColumn: this.columnNames.text,
      }),
    );
    this.shape = undefined;
  }

  /** On a pool lshrs opened, a connection failure becomes one line naming the server (the original as `cause`). */
  private failure(err: unknown): unknown {
    const reason = this.address === undefined ? undefined : connectionFailure(err);
    return reason === undefined ? err : new PostgresUnreachableError(this.address as string, reason, err);
  }

  /** A call to PostgreSQL, its connection failures described (see {@link failure}). */
  private async pg<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (err) {
      throw this.failure(err);
    }
  }

  private query<R extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pg(this.pool.query<R>(text, params));
  }

  private describe(): Promise<TableShape> {
    this.shape ??= this.readShape().catch((err) => {
      this.shape = undefined; // a failed look-up (table not created yet, server down) is retried
      throw err;
    });
    return this.shape;
  }

  private async readShape(): Promise<TableShape> {
    const { rows } = await this.query<{
      name: string;
      type: string;
      typname: string;
      collation: string | null;
      base: string;
      category: string;
      labels: string[] | null;
    }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typname,
              (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.collname)
                 FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
                WHERE c.oid = a.attcollation AND c.collname <> 'default') AS collation,
              format_type(a.atttypid, NULL) AS base, t.typcategory AS category,
              (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = a.atttypid) AS labels
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`,
      [this.table],
    );
    if (rows.length === 0) throw new LshrsError('BAD_STORE', `table ${this.tableName} does not exist`);
    const column = (name: string) => rows.find((r) => r.name === name);
    const names = this.columnNames;
    const id = column(names.id);
    const vector = column(names.vector);
    if (!id) throw new LshrsError('BAD_STORE', `table ${this.tableName} has no column ${this.idColumn}`);
    if (!vector) throw new LshrsError('BAD_STORE', `table ${this.tableName} has no column ${this.vectorColumn}`);
    const kind = KIND_BY_TYPNAME[vector.typname];
    if (!kind) {
      throw new LshrsError(
        'BAD_STORE',
        `column ${this.vectorColumn} of ${this.tableName} has type ${vector.type}; lshrs reads real[], double precision[], bytea or vector`,
      );
    }
    if (names.text !== null && !column(names.text)) {
      throw new LshrsError('BAD_STORE', `table ${this.tableName} has no column ${this.textColumn} (pass textColumn: null for none)`);
    }
    return {
      kind,
      idSqlType: id.type,
      idCollate: id.collation ? ` COLLATE ${id.collation}` : '',
      idType: INTEGER_TYPES.has(id.typname) ? 'int' : 'str',
      hasText: this.textColumn !== null,
      columns: new Map(rows.map((r) => [r.name, { name: r.name, baseType: r.base, typname: r.typname, category: r.category, enumLabels: r.labels }])),
    };
  }

  /** The select list: id as text, the vector in binary form (never as text), and the text. */
  private selectList(shape: TableShape, withText: boolean): string {
    const vector =
      shape.kind === 'bytea' ? this.vectorColumn : shape.kind === 'vector' ? `vector_send(${this.vectorColumn})` : `array_send(${this.vectorColumn})`;
    const text = withText && shape.hasText ? `, ${this.textColumn} AS t` : '';
    return `${this.idColumn}::text AS id, ${vector} AS v${text}`;
  }

  /** Rows with their vectors decoded (and the requested columns as `row`); a row whose vector is NULL is left out (it has nothing to rerank). */
  private decodeRows(shape: TableShape, rows: RawRow[], columns: readonly string[] = []): StoredItem[] {
    const items: StoredItem[] = [];
    for (const raw of rows) {
      if (!raw.v) continue;
      const vector = this.decodeVector(shape, raw.v, raw.id);
      const item: StoredItem = raw.t === undefined ? { id: raw.id, vector } : { id: raw.id, vector, text: raw.t };
      if (columns.length > 0) item.row = Object.fromEntries(columns.map((name, i) => [name, raw[`c${i}`]]));
      items.push(item);
    }
    return items;
  }

  /** A row's vector from its binary form; an array with a NULL element is BAD_STORE naming the row and element. */
  private decodeVector(shape: TableShape, v: Buffer, id: string): Float32Array {
    const vector =
      shape.kind === 'bytea'
        ? float32FromLE(v)
        : shape.kind === 'vector'
          ? decodeVectorSend(v)
          : decodeArraySend(v, shape.kind === 'float4[]' ? 4 : 8);
    if (typeof vector === 'number') throw new LshrsError('BAD_STORE', `row ${id} of ${this.tableName}: vector[${vector}] is null, not a number`);
    return vector;
  }

  async fetch(ids: readonly Id[]): Promise<Iterable<StoredItem>> {
    if (ids.length === 0) return [];
    return this.fetchMatching(ids, {});
  }

  /**
   * The filter and columns of a request as SQL, checked against the table's columns (re-read once
   * when a name is unknown: a column added since); BAD_OPTION before any statement runs.
   */
  private async prepareMatch(request: MatchRequest, firstParam: number): Promise<PreparedMatch> {
    const node = request.filter === undefined ? null : parseFilter(request.filter);
    const columns = request.columns === undefined ? [] : checkColumnNames(request.columns);
    let shape = await this.describe();
    const known = (name: string) => shape.columns.has(name) || shape.columns.get(name.slice(0, Math.max(0, name.indexOf('.'))))?.typname === 'jsonb';
    const names = [...(node ? fieldNames(node) : []), ...columns];
    if (names.some((name) => !known(name))) {
      this.shape = undefined;
      shape = await this.describe();
    }
    for (const name of columns) {
      if (!shape.columns.has(name)) throw new LshrsError('BAD_OPTION', `columns: ${this.tableName} has no column ${JSON.stringify(name)}`);
    }
    const filter = node
      ? compileFilter(node, { table: this.tableName, columns: shape.columns, vectorColumn: this.columnNames.vector }, firstParam)
      : null;
    return { shape, filter, extra: columns.map((name, i) => `, ${quoteIdent(name)} AS "c${i}"`).join(''), columns };
  }

  /** The rows of these ids that match the request's filter, with its columns as `row`. */
  async fetchMatching(ids: readonly Id[], request: MatchRequest): Promise<Iterable<StoredItem>> {
    const match = await this.prepareMatch(request, 2);
    if (ids.length === 0) return [];
    const where = match.filter ? ` AND ${match.filter.sql}` : '';
    const { rows } = await this.query<RawRow>(
      `SELECT ${this.selectList(match.shape, true)}${match.extra} FROM ${this.table} WHERE ${this.idColumn} = ANY($1)${where}`,
      [ids.map(String), ...(match.filter?.params ?? [])],
    );
    return this.decodeRows(match.shape, rows, match.columns);
  }

  /** PostgreSQL's own estimate (its planner's, from the table's statistics) of the rows that match, and of all rows. */
  async estimateMatching(filter: Filter): Promise<MatchEstimate> {
    const match = await this.prepareMatch({ filter }, 1);
    const planRows = async (where: string, params: unknown[]) => {
      const { rows } = await this.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
        `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${this.table}${where}`,
        params,
      );
      return Number(rows[0]['QUERY PLAN'][0].Plan['Plan Rows']);
    };
    const [matching, all] = await Promise.all([planRows(` WHERE ${match.filter?.sql ?? 'TRUE'}`, match.filter?.params ?? []), planRows('', [])]);
    return { matching, rows: all };
  }

  /**
   * Every row that matches the request's filter, `visit`ed a page at a time through a cursor (in
   * no particular order), until `visit` returns false. Returns the rows visited.
   */
  async scanMatching(request: MatchRequest, visit: (rows: StoredItem[]) => boolean): Promise<number> {
    const match = await this.prepareMatch(request, 1);
    const where = match.filter ? ` WHERE ${match.filter.sql}` : '';
    return this.transaction(async (client) => {
      await this.pg(
        client.query(
          `DECLARE lshrs_scan NO SCROLL CURSOR FOR SELECT ${this.selectList(match.shape, true)}${match.extra} FROM ${this.table}${where}`,
          match.filter?.params ?? [],
        ),
      );
      let visited = 0;
      for (;;) {
        const { rows } = await this.pg(client.query<RawRow>(`FETCH ${SCAN_PAGE} FROM lshrs_scan`));
        visited += rows.length;
        if (rows.length === 0 || !visit(this.decodeRows(match.shape, rows, match.columns)) || rows.length < SCAN_PAGE) return visited;
      }
    });
  }

  /** Keyset pagination on the id column (its primary key index), texts left out. */
  async scan(after: string | null, limit: number): Promise<ScannedRow[]> {
    const shape = await this.describe();
    const where = after === null ? '' : `WHERE ${this.idColumn} > $2::${shape.idSqlType}`;
    const params: unknown[] = after === null ? [limit] : [limit, after];
    const { rows } = await this.query<RawRow>(
      // Qualified, so ORDER BY sorts by the column and not by the id::text output of the same name.
      `SELECT ${this.selectList(shape, false)} FROM ${this.table} ${where} ORDER BY ${this.table}.${this.idColumn} LIMIT $1`,
      params,
    );
    // Every row of the range, a NULL vector as null: the build says which row it could not index.
    return rows.map((row: { id: string; v: Buffer | null }): ScannedRow => {
      if (!row.v) return { id: row.id, vector: null };
      try {
        return { id: row.id, vector: this.decodeVector(shape, row.v, row.id) };
      } catch (err) {
        if (!(err instanceof LshrsError)) throw err;
        return { id: row.id, vector: null, invalid: err.message };
      }
    });
  }

  async count(after: string | null): Promise<number> {
    const shape = await this.describe();
    const where = after === null ? '' : `WHERE ${this.idColumn} > $1::${shape.idSqlType}`;
    const { rows } = await this.query<{ n: number }>(`SELECT count(*)::float8 AS n FROM ${this.table} ${where}`, after === null ? [] : [after]);
    return Number(rows[0].n);
  }

  async idType(): Promise<IdType> {
    return (await this.describe()).idType;
  }

  async existing(ids: readonly Id[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const { rows } = await this.query<{ id: string }>(`SELECT ${this.idColumn}::text AS id FROM ${this.table} WHERE ${this.idColumn} = ANY($1)`, [
      ids.map(String),
    ]);
    return new Set(rows.map((r) => r.id));
  }

  async check(): Promise<void> {
    await this.describe();
  }

  async upsert(items: readonly StoreWrite[]): Promise<void> {
    if (items.length === 0) return;
    const shape = await this.describe();
    const vectorType = shape.kind === 'float4[]' ? 'real[]' : shape.kind === 'float8[]' ? 'double precision[]' : shape.kind;
    const columns = [this.idColumn, this.vectorColumn];
    const values = [`u.id::${shape.idSqlType}`, `u.v::${vectorType}`];
    const params: unknown[] = [items.map((i) => String(i.id)), items.map((i) => vectorLiteral(shape.kind, i.vector))];
    if (shape.hasText && this.textColumn) {
      columns.push(this.textColumn);
      values.push('u.t');
      params.push(items.map((i) => i.text ?? null));
    }
    const unnested = shape.hasText ? ['id', 'v', 't'] : ['id', 'v'];
    for (const [i, name] of this.rowColumns(shape, items).entries()) {
      const column = shape.columns.get(name) as CatalogColumn;
      columns.push(quoteIdent(name));
      values.push(`u.c${i}::${column.baseType}`);
      unnested.push(`c${i}`);
      params.push(items.map((item) => rowValue(item.row?.[name])));
    }
    const updates = columns.slice(1).map((c) => `${c} = EXCLUDED.${c}`);
    const unnest = `unnest(${unnested.map((_, i) => `$${i + 1}::text[]`).join(', ')}) AS u(${unnested.join(', ')})`;
    // In id order, as the column sorts: the rows are inserted, and existing ones locked, in that
    // order, the order every other write and delete of lshrs locks them in, so that concurrent
    // batches sharing ids wait for each other instead of deadlocking.
    await this.query(
      `INSERT INTO ${this.table} (${columns.join(', ')}) SELECT ${values.join(', ')} FROM ${unnest}
       ORDER BY u.id::${shape.idSqlType}${shape.idCollate}
       ON CONFLICT (${this.idColumn}) DO UPDATE SET ${updates.join(', ')}`,
      params,
    );
  }

  /**
   * The other columns the items' `row`s write (their union: an item without one of them writes
   * NULL there), each checked against the table: BAD_OPTION before anything is written.
   */
  private rowColumns(shape: TableShape, items: readonly StoreWrite[]): string[] {
    const names = new Set<string>();
    for (const item of items) for (const name of Object.keys(item.row ?? {})) names.add(name);
    const own = new Set([this.columnNames.id, this.columnNames.vector, this.columnNames.text]);
    for (const name of names) {
      const column = shape.columns.get(name);
      if (!column) throw new LshrsError('BAD_OPTION', `row: ${this.tableName} has no column ${JSON.stringify(name)}`);
      if (own.has(name)) throw new LshrsError('BAD_OPTION', `row: ${name} is written from the item's id, vector or text, not from its row`);
      if (column.category === 'A') throw new LshrsError('BAD_OPTION', `row: ${name} is ${column.baseType}; a row writes scalar and json columns`);
    }
    return [...names];
  }

  async delete(ids: readonly Id[]): Promise<void> {
    if (ids.length === 0) return;
    // Locked in id order first (see upsert), then deleted.
    await this.query(
      `DELETE FROM ${this.table} WHERE ${this.idColumn} IN
         (SELECT ${this.idColumn} FROM ${this.table} WHERE ${this.idColumn} = ANY($1) ORDER BY ${this.idColumn} FOR UPDATE)`,
      [ids.map(String)],
    );
  }

  /**
   * Runs `fn` (the index's part of a write) while the rows of `ids` are held (`FOR NO KEY UPDATE`,
   * in id order) against every other lshrs write and delete of them, passing the ids that have a
   * row (as text): an id whose row a concurrent delete removed since it was written is left out of
   * the index. The hold is a transaction that writes nothing, so the rows written before it stay
   * whatever happens to it.
   */
  async withRowLocks<T>(ids: readonly Id[], fn: (present: ReadonlySet<string>) => Promise<T>): Promise<T> {
    if (ids.length === 0) return fn(new Set());
    return this.transaction(async (client) => fn(await this.lockRows(client, ids, 'NO KEY UPDATE')));
  }

  /**
   * Deletes the rows of `ids`, calling `unindex` first while they are held (`FOR UPDATE`, in id
   * order), so that no concurrent write indexes them in between. A row that a concurrent write had
   * created but not yet committed cannot be held; when one shows up after `unindex`, its id goes
   * round again (`unindex` with `again`), held this time, so that it ends up neither indexed nor in
   * the table, whichever of its writes' steps came first.
   */
  async deleteWithRowLocks(ids: readonly Id[], unindex: (ids: readonly Id[], again: boolean) => Promise<void>): Promise<void> {
    let pending = ids;
    for (let round = 0; pending.length > 0; round++) {
      if (round === DELETE_ROUNDS) {
        const some = pending.slice(0, 5).map(String).join(', ') + (pending.length > 5 ? ', ...' : '');
        throw new LshrsError(
          'BAD_STORE',
          `ids ${some} of ${this.tableName} got new rows from concurrent writes in each of ${DELETE_ROUNDS} rounds of their delete: delete them again`,
        );
      }
      const current = pending;
      pending = await this.transaction(async (client) => {
        const held = await this.lockRows(client, current, 'UPDATE');
        await unindex(current, round > 0);
        const unheld = current.filter((id) => !held.has(String(id)));
        const { rows } = await this.pg(
          client.query<{ id: string }>(
            `WITH gone AS (DELETE FROM ${this.table} WHERE ${this.idColumn} = ANY($1))
             SELECT ${this.idColumn}::text AS id FROM ${this.table} WHERE ${this.idColumn} = ANY($2)`,
            [[...held], unheld.map(String)],
          ),
        );
        const appeared = new Set(rows.map((r) => r.id));
        return unheld.filter((id) => appeared.has(String(id)));
      });
    }
  }

  /** Locks the rows of `ids` in id order (the order of every other lock lshrs takes); returns the ids found. */
  private async lockRows(client: pg.PoolClient, ids: readonly Id[], strength: 'UPDATE' | 'NO KEY UPDATE'): Promise<Set<string>> {
    const { rows } = await this.pg(
      client.query<{ id: string }>(
        `SELECT ${this.idColumn}::text AS id FROM ${this.table} WHERE ${this.idColumn} = ANY($1)
          ORDER BY ${this.table}.${this.idColumn} FOR ${strength}`,
        [ids.map(String)],
      ),
    );
    return new Set(rows.map((r) => r.id));
  }

  /**
   * `fn` in a transaction on one connection of the pool, committed when it returns. The connection
   * is listened to while it is held (an 'error' on it would otherwise kill the process) and is
   * dropped instead of returned to the pool when it failed.
   */
  private async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pg(this.pool.connect());
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await this.pg(client.query(`BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${HOLD_LIMIT_MS}`));
      const result = await fn(client);
      await this.pg(client.query('COMMIT'));
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollback: Error) => {
        broken ??= rollback;
      });
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}

/** The fields a filter names (its `$sql` conditions aside). */
function fieldNames(node: FilterNode): string[] {
  switch (node.kind) {
    case 'and':
    case 'or':
      return node.parts.flatMap(fieldNames);
    case 'not':
      return fieldNames(node.part);
    case 'sql':
      return [];
    default:
      return [node.field];
  }
}

/** A `row` value as text for its column's cast: JSON for objects (json and jsonb columns), ISO for dates. */
function rowValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
