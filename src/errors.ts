/** Stable codes of {@link LshrsError}; hosts branch on these, never on messages. */
export type LshrsErrorCode =
  | 'BAD_OPTION' // an option is missing, of the wrong type or out of range
  | 'DIMENSION' // a vector's length differs from the index's dim
  | 'NOT_FINITE' // a vector holds NaN or Infinity
  | 'ZERO_VECTOR' // a vector of zeros has no direction to hash
  | 'BAD_ID' // an id is neither a non-negative safe integer nor an acceptable string
  | 'ID_TYPE' // integer and string ids mixed in one index
  | 'PARAMS_MISMATCH' // the index in Redis was created with other parameters
  | 'NOT_FOUND' // an id or an index that the call needs is not there
  | 'NO_STORE' // a rerank or a write needs a vector store and none is configured
  | 'BAD_STORE' // the vector store's table or data is not usable
  | 'NOT_REPLICATED' // waitForReplicas: fewer replicas than asked acknowledged a write batch in time
  | 'INDEX_LOST' // the index in Redis is gone, was created anew, or is behind what this handle wrote
  | 'EVICTION_POLICY'; // the Redis evicts keys without a TTL (maxmemory-policy allkeys-*): the index would lose keys silently

/** The one error class lshrs throws. Errors of Redis and pg pass through unchanged. */
export class LshrsError extends Error {
  readonly code: LshrsErrorCode;

  constructor(code: LshrsErrorCode, message: string) {
    super(message);
    this.name = 'LshrsError';
    this.code = code;
  }
}

/** The error replies of lua/*.lua ("LSHRS_<NAME> <detail>") and the code each becomes. */
export const SCRIPT_ERRORS = {
  LSHRS_PARAMS: 'PARAMS_MISMATCH', // detail: the stored fingerprint
  LSHRS_IDTYPE: 'ID_TYPE', // detail: the stored id type
  LSHRS_LOST: 'INDEX_LOST', // detail: the stored "<epoch>:<seq>"
} as const satisfies Record<string, LshrsErrorCode>;

export type ScriptErrorReply = keyof typeof SCRIPT_ERRORS;

/** A script's error reply, parsed; undefined for any other error (Redis' own pass through). */
export function scriptError(err: unknown): { reply: ScriptErrorReply; code: LshrsErrorCode; detail: string } | undefined {
  const match = err instanceof Error ? /^(LSHRS_[A-Z]+)(?: (.*))?$/.exec(err.message) : null;
  if (!match || !(match[1] in SCRIPT_ERRORS)) return undefined;
  const reply = match[1] as ScriptErrorReply;
  return { reply, code: SCRIPT_ERRORS[reply], detail: match[2] ?? '' };
}
