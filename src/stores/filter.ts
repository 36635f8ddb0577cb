/*
 * The filter of a query, as the host writes it, checked for shape and turned into a tree that a
 * store compiles (PostgresVectorStore into SQL). Nothing here knows a store's columns: names and
 * value types are the store's to check.
 */
import { LshrsError } from '../errors';

/** A value a filter compares a field to. */
export type FilterValue = string | number | bigint | boolean | Date;

/** The conditions on one field; several in one object must all hold. */
export interface FieldCondition {
  /** Equal (`null`: the field is NULL). */
  $eq?: FilterValue | null;
  /** Not equal, NULL excluded as in SQL (`null`: the field is not NULL). */
  $ne?: FilterValue | null;
  $gt?: FilterValue;
  $gte?: FilterValue;
  $lt?: FilterValue;
  $lte?: FilterValue;
  /** One of these (an empty list matches nothing). */
  $in?: readonly FilterValue[];
  /** None of these, NULL excluded (an empty list matches every non-NULL value). */
  $nin?: readonly FilterValue[];
  /** `true`: the field is NULL (or absent from a jsonb column); `false`: it is not. */
  $null?: boolean;
}

/** A parameterised SQL condition, for what the structured filter cannot say (PostgresVectorStore only). */
export interface SqlCondition {
  /** A boolean SQL expression over the table's columns; its values as `$1`, `$2`, ... of `params`. */
  where: string;
  params?: readonly unknown[];
}

/**
 * Which rows a query may return. Each key is a field: a column name, or `column.key` for a key of a
 * jsonb column, given a value (equality; `null`: IS NULL) or a {@link FieldCondition}. `$and`,
 * `$or` and `$not` combine filters; `$sql` adds a {@link SqlCondition}. The keys of one object must
 * all hold.
 */
export interface Filter {
  $and?: readonly Filter[];
  $or?: readonly Filter[];
  $not?: Filter;
  $sql?: SqlCondition;
  [field: string]: FilterValue | null | FieldCondition | readonly Filter[] | Filter | SqlCondition | undefined;
}

export type CompareOp = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte';

/** A filter checked for shape. */
export type FilterNode =
  | { kind: 'and' | 'or'; parts: FilterNode[] }
  | { kind: 'not'; part: FilterNode }
  | { kind: 'sql'; where: string; params: unknown[] }
  | { kind: 'compare'; field: string; op: CompareOp; value: FilterValue }
  | { kind: 'in'; field: string; values: FilterValue[]; negated: boolean }
  | { kind: 'null'; field: string; isNull: boolean };

const OPERATORS: Record<string, CompareOp> = { $eq: 'eq', $ne: 'ne', $gt: 'gt', $gte: 'gte', $lt: 'lt', $lte: 'lte' };

/** Nesting and size a filter may have: enough for any real one, bounded so a runaway input is refused. */
const MAX_DEPTH = 16;
const MAX_VALUES = 10_000;

const bad = (message: string) => new LshrsError('BAD_OPTION', `filter: ${message}`);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function checkValue(field: string, value: unknown): FilterValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw bad(`${field}: ${value} is not a finite number`);
      return value;
    default:
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw bad(`${field}: an invalid Date`);
        return value;
      }
      throw bad(`${field}: a value must be a string, number, bigint, boolean or Date, got ${value === null ? 'null' : typeof value}`);
  }
}

function checkList(field: string, op: string, list: unknown): FilterValue[] {
  if (!Array.isArray(list)) throw bad(`${field}.${op} must be an array`);
  if (list.length > MAX_VALUES) throw bad(`${field}.${op} holds ${list.length} values; at most ${MAX_VALUES}`);
  return list.map((v) => checkValue(field, v));
}

/** The conditions one field's value states. */
function fieldNodes(field: string, spec: unknown): FilterNode[] {
  if (field.length === 0) throw bad('an empty field name');
  if (spec === null) return [{ kind: 'null', field, isNull: true }];
  if (!isPlainObject(spec)) return [{ kind: 'compare', field, op: 'eq', value: checkValue(field, spec) }];
  const nodes: FilterNode[] = [];
  for (const [key, value] of Object.entries(spec)) {
    if (value === undefined) continue;
    const op = OPERATORS[key];
    if (op) {
      if (value === null && (op === 'eq' || op === 'ne')) nodes.push({ kind: 'null', field, isNull: op === 'eq' });
      else nodes.push({ kind: 'compare', field, op, value: checkValue(field, value) });
    } else if (key === '$in' || key === '$nin') {
      nodes.push({ kind: 'in', field, values: checkList(field, key, value), negated: key === '$nin' });
    } else if (key === '$null') {
      if (typeof value !== 'boolean') throw bad(`${field}.$null must be true or false`);
      nodes.push({ kind: 'null', field, isNull: value });
    } else {
      throw bad(`unknown operator ${JSON.stringify(key)} on ${field} (known: $eq $ne $gt $gte $lt $lte $in $nin $null)`);
    }
  }
  if (nodes.length === 0) throw bad(`${field} has no condition`);
  return nodes;
}

function sqlNode(spec: unknown): FilterNode {
  if (!isPlainObject(spec) || typeof spec.where !== 'string' || spec.where.trim() === '') {
    throw bad('$sql must be { where: "<condition>", params?: [...] }');
  }
  for (const key of Object.keys(spec)) if (key !== 'where' && key !== 'params') throw bad(`unknown $sql key ${JSON.stringify(key)}`);
  const params = spec.params ?? [];
  if (!Array.isArray(params)) throw bad('$sql.params must be an array');
  return { kind: 'sql', where: spec.where, params: [...params] };
}

function parse(filter: unknown, depth: number): FilterNode {
  if (depth > MAX_DEPTH) throw bad(`nested deeper than ${MAX_DEPTH}`);
  if (!isPlainObject(filter)) throw bad(`a filter must be a plain object, got ${Array.isArray(filter) ? 'an array' : String(filter)}`);
  const parts: FilterNode[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value)) throw bad(`${key} must be an array of filters`);
      parts.push({ kind: key === '$and' ? 'and' : 'or', parts: value.map((f) => parse(f, depth + 1)) });
    } else if (key === '$not') {
      parts.push({ kind: 'not', part: parse(value, depth + 1) });
    } else if (key === '$sql') {
      parts.push(sqlNode(value));
    } else if (key.startsWith('$')) {
      throw bad(`unknown operator ${JSON.stringify(key)} (known: $and $or $not $sql, or a field name)`);
    } else {
      parts.push(...fieldNodes(key, value));
    }
  }
  return parts.length === 1 ? parts[0] : { kind: 'and', parts };
}

/** A filter checked for shape (BAD_OPTION naming what is wrong); field names and types are the store's to check. */
export function parseFilter(filter: unknown): FilterNode {
  return parse(filter, 0);
}

/** The `columns` option checked for shape: distinct non-empty names. */
export function checkColumnNames(columns: unknown): string[] {
  if (!Array.isArray(columns) || columns.some((c) => typeof c !== 'string' || c.length === 0)) {
    throw new LshrsError('BAD_OPTION', 'columns must be an array of column names');
  }
  return [...new Set(columns as string[])];
}
