/*
 * A checked filter (stores/filter) as a PostgreSQL condition: every field a column of the table
 * (or a key path in a jsonb column), every value a parameter of a type the column can compare,
 * every name quoted. Anything else is BAD_OPTION before a statement is sent.
 */
import { LshrsError } from '../errors';
import { quoteIdent } from '../sql';
import type { CompareOp, FilterNode, FilterValue } from './filter';

/** A column as the catalog describes it. */
export interface CatalogColumn {
  name: string;
  /** The type without modifiers (`character varying`, not `character varying(10)`): casts never truncate. */
  baseType: string;
  typname: string;
  /** pg_type.typcategory: N numeric, S string, B boolean, D date/time, E enum, U user (uuid, jsonb), ... */
  category: string;
  enumLabels: string[] | null;
}

export interface FilterContext {
  table: string;
  columns: ReadonlyMap<string, CatalogColumn>;
  /** The vector column, which a filter cannot compare. */
  vectorColumn: string;
}

/** A condition and its parameters, numbered after `firstParam - 1` others. */
export interface CompiledFilter {
  sql: string;
  params: unknown[];
}

const SQL_OPS: Record<CompareOp, string> = { eq: '=', ne: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' };

const INTEGER_RANGE: Record<string, bigint> = { int2: 2n ** 15n, int4: 2n ** 31n, int8: 2n ** 63n };

/** ISO dates and times, the forms a filter may give a date/time column as text. */
const DATE_TEXT = /^(-?infinity|\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?|\d{2}:\d{2}(:\d{2}(\.\d+)?)?)$/i;
const UUID_TEXT = /^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$/i;

const bad = (message: string) => new LshrsError('BAD_OPTION', `filter: ${message}`);

/** A field: a column, or a key path of a jsonb column (`metadata.year`). */
type Field = { column: CatalogColumn; sql: string; path: null } | { column: CatalogColumn; sql: string; path: string[] };

class Compiler {
  readonly params: unknown[];

  constructor(
    private readonly ctx: FilterContext,
    firstParam: number,
  ) {
    // Placeholders number from firstParam: the statement's own parameters come first.
    this.params = new Array(firstParam - 1);
  }

  private param(value: unknown, cast: string): string {
    this.params.push(value);
    return `$${this.params.length}::${cast}`;
  }

  private field(name: string): Field {
    const { columns, table, vectorColumn } = this.ctx;
    const direct = columns.get(name);
    if (direct) {
      if (direct.name === vectorColumn) throw bad(`${name} is the vector column; a filter compares the row's other columns`);
      return { column: direct, sql: quoteIdent(direct.name), path: null };
    }
    const dot = name.indexOf('.');
    const column = dot > 0 ? columns.get(name.slice(0, dot)) : undefined;
    if (column && column.typname === 'jsonb') {
      const path = name.slice(dot + 1).split('.');
      if (path.some((key) => key.length === 0)) throw bad(`${name}: an empty key in the path`);
      return { column, sql: quoteIdent(column.name), path };
    }
    if (column) throw bad(`${name}: ${column.name} is ${column.baseType}; a key path needs a jsonb column`);
    throw bad(`${table} has no column ${JSON.stringify(name)}`);
  }

  /** A value as a parameter cast to what the column compares with; BAD_OPTION when the column cannot hold it. */
  private value(field: Field & { path: null }, value: FilterValue): string {
    const { column } = field;
    const label = `${column.name} (${column.baseType})`;
    const refuse = (): never => {
      throw bad(`${label} cannot be compared to ${describe(value)}`);
    };
    if (typeof value === 'string' && value.includes('\u0000')) throw bad(`${column.name}: text cannot hold a NUL character`);
    switch (column.category) {
      case 'N': {
        if (typeof value !== 'number' && typeof value !== 'bigint') return refuse();
        const limit = INTEGER_RANGE[column.typname];
        if (limit !== undefined) {
          // An integer column compared to a fraction or to a number beyond its range: as numeric,
          // which is exact (no row equals it) where a cast to the column's type would fail.
          const whole = typeof value === 'bigint' || Number.isInteger(value);
          const big = whole ? BigInt(value) : 0n;
          if (!whole || big < -limit || big >= limit) return this.param(String(value), 'numeric');
        }
        return this.param(String(value), column.baseType);
      }
      case 'S':
        return typeof value === 'string' ? this.param(value, column.baseType) : refuse();
      case 'B':
        return typeof value === 'boolean' ? this.param(value, 'boolean') : refuse();
      case 'D':
        if (value instanceof Date) return this.param(value.toISOString(), column.baseType);
        return typeof value === 'string' && DATE_TEXT.test(value) ? this.param(value, column.baseType) : refuse();
      case 'E':
        if (typeof value !== 'string' || !column.enumLabels?.includes(value)) {
          throw bad(`${label} has no label ${describe(value)} (labels: ${(column.enumLabels ?? []).join(', ')})`);
        }
        return this.param(value, column.baseType);
      default:
        if (column.typname === 'uuid') return typeof value === 'string' && UUID_TEXT.test(value) ? this.param(value, 'uuid') : refuse();
        throw bad(`${label}: a filter compares numbers, text, booleans, dates and times, enums, uuids and jsonb keys; use $sql for others`);
    }
  }

  /** The list of an $in, as one array parameter of the column's type. */
  private list(field: Field & { path: null }, values: FilterValue[]): string {
    // Each value is checked (and converted) as a single one would be; the array carries them as text.
    const texts = values.map((v) => {
      const before = this.params.length;
      this.value(field, v);
      const converted = this.params[before];
      this.params.length = before;
      return converted;
    });
    const numericCast = values.some((v) => INTEGER_RANGE[field.column.typname] !== undefined && !fitsInteger(field.column.typname, v));
    return this.param(texts, `${numericCast ? 'numeric' : field.column.baseType}[]`);
  }

  compile(node: FilterNode): string {
    switch (node.kind) {
      case 'and':
      case 'or':
        if (node.parts.length === 0) return node.kind === 'and' ? 'TRUE' : 'FALSE';
        return `(${node.parts.map((p) => this.compile(p)).join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
      case 'not':
        // NOT of a condition on a NULL is NULL in SQL: a row is kept only where the condition is false.
        return `(${this.compile(node.part)}) IS NOT TRUE`;
      case 'sql':
        return this.sql(node.where, node.params);
      default:
        return this.fieldCondition(node);
    }
  }

  private sql(where: string, params: unknown[]): string {
    const offset = this.params.length;
    const text = where.replace(/\$(\d+)/g, (_, digits: string) => {
      const n = Number(digits);
      if (n < 1 || n > params.length) throw bad(`$sql refers to $${digits}, but its params hold ${params.length} values`);
      return `$${offset + n}`;
    });
    this.params.push(...params);
    return `(${text})`;
  }

  private fieldCondition(node: Exclude<FilterNode, { kind: 'and' | 'or' | 'not' | 'sql' }>): string {
    const field = this.field(node.field);
    if (field.path !== null) return this.jsonCondition(field, node);
    const col = field.sql;
    switch (node.kind) {
      case 'null':
        return `${col} IS ${node.isNull ? '' : 'NOT '}NULL`;
      case 'compare':
        return `${col} ${SQL_OPS[node.op]} ${this.value(field, node.value)}`;
      case 'in':
        return node.negated
          ? `(${col} IS NOT NULL AND ${col} <> ALL(${this.list(field, node.values)}))`
          : `${col} = ANY(${this.list(field, node.values)})`;
    }
  }

  /** A condition on a key path of a jsonb column: values compared as jsonb, ranges only within one JSON type. */
  private jsonCondition(field: Field & { path: string[] }, node: Exclude<FilterNode, { kind: 'and' | 'or' | 'not' | 'sql' }>): string {
    if (node.kind === 'compare' && node.op === 'eq') {
      // Containment: what a GIN index on the column answers.
      const nested = field.path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), JSON.parse(jsonText(node.field, node.value)));
      return `${field.sql} @> ${this.param(JSON.stringify(nested), 'jsonb')}`;
    }
    const at = `(${field.sql} #> ${this.param(field.path, 'text[]')})`;
    switch (node.kind) {
      case 'null':
        return node.isNull ? `(${at} IS NULL OR ${at} = 'null'::jsonb)` : `(${at} IS NOT NULL AND ${at} <> 'null'::jsonb)`;
      case 'compare': {
        const value = jsonText(node.field, node.value);
        const sameType = `jsonb_typeof(${at}) = '${jsonType(node.value)}'`;
        return `(${sameType} AND ${at} ${SQL_OPS[node.op]} ${this.param(value, 'jsonb')})`;
      }
      case 'in': {
        const values = this.param(
          node.values.map((v) => jsonText(node.field, v)),
          'jsonb[]',
        );
        return node.negated ? `(${at} IS NOT NULL AND ${at} <> ALL(${values}))` : `${at} = ANY(${values})`;
      }
    }
  }
}

function fitsInteger(typname: string, value: FilterValue): boolean {
  const limit = INTEGER_RANGE[typname];
  if (typeof value === 'bigint') return value >= -limit && value < limit;
  return typeof value === 'number' && Number.isInteger(value) && BigInt(value) >= -limit && BigInt(value) < limit;
}

function describe(value: FilterValue): string {
  if (value instanceof Date) return `the Date ${value.toISOString()}`;
  return `${typeof value} ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`;
}

function jsonType(value: FilterValue): string {
  if (typeof value === 'boolean') return 'boolean';
  return typeof value === 'number' || typeof value === 'bigint' ? 'number' : 'string';
}

function jsonText(field: string, value: FilterValue): string {
  if (typeof value === 'string' && value.includes('\u0000')) throw bad(`${field}: text cannot hold a NUL character`);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  return typeof value === 'bigint' ? value.toString() : JSON.stringify(value);
}

/**
 * The filter as a condition for `WHERE`, its placeholders numbered from `firstParam` (the
 * statement's own parameters come first); `params` holds the statement's whole list from there.
 */
export function compileFilter(node: FilterNode, ctx: FilterContext, firstParam: number): CompiledFilter {
  const compiler = new Compiler(ctx, firstParam);
  const sql = compiler.compile(node);
  return { sql, params: compiler.params.slice(firstParam - 1) };
}
