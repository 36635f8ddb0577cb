import { LshrsError } from './errors';

/** An item id: a non-negative safe integer or a non-empty string. */
export type Id = number | string;

/** How an index stores its ids; fixed by the first write. */
export type IdType = 'int' | 'str';

/** Longest string id, in UTF-8 bytes. */
export const MAX_ID_BYTES = 512;

// C0 controls, DEL and C1 controls.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters in ids is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

export function idTypeOf(id: unknown): IdType {
  if (typeof id === 'number') {
    if (Number.isSafeInteger(id) && id >= 0) return 'int';
    throw new LshrsError('BAD_ID', `id ${id} is not a non-negative safe integer`);
  }
  if (typeof id === 'string') {
    if (id.length === 0) throw new LshrsError('BAD_ID', 'id is an empty string');
    if (CONTROL_CHARS.test(id)) throw new LshrsError('BAD_ID', `id ${JSON.stringify(id)} contains a control character`);
    const bytes = Buffer.byteLength(id, 'utf8');
    if (bytes > MAX_ID_BYTES) throw new LshrsError('BAD_ID', `id is ${bytes} bytes long, at most ${MAX_ID_BYTES} are allowed`);
    return 'str';
  }
  throw new LshrsError('BAD_ID', `id must be a number or a string, got ${id === null ? 'null' : typeof id}`);
}

/** Validates a batch of ids and returns their common type; mixed types are refused. */
export function commonIdType(ids: readonly unknown[]): IdType | undefined {
  let type: IdType | undefined;
  for (const id of ids) {
    const t = idTypeOf(id);
    if (type === undefined) type = t;
    else if (t !== type) {
      throw new LshrsError('ID_TYPE', `ids mix integers and strings (${JSON.stringify(ids[0])} and ${JSON.stringify(id)})`);
    }
  }
  return type;
}

/** Turns an id read back from Redis or a store (always a string there) into the caller's type. */
export function decodeId(raw: string, type: IdType): Id {
  return type === 'int' ? Number(raw) : raw;
}

/** FNV-1a over the UTF-8 bytes: a stable 32-bit hash that every process computes alike. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The page (small Redis hash) that holds an id's reverse record. Integer ids spread by value, so
 * consecutive ids fill pages evenly; strings by a stable hash.
 */
export function pageOf(id: Id, pages: number): number {
  return typeof id === 'number' ? id % pages : fnv1a(id) % pages;
}
