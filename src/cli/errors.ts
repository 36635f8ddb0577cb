/*
 * The command line's errors: one line each, with a code from a closed, documented set (the README's
 * command-line section lists them), whoever threw them.
 */
import { ReplyError } from 'ioredis';
import pg from 'pg';
import { LshrsError, type LshrsErrorCode } from '../errors';

/**
 * The codes the command line reports: every LshrsError code, and these for errors that are not
 * lshrs' own: USAGE (the command line was misused: an unknown option, a missing argument or
 * confirmation), REDIS, POSTGRES, PARQUET (the file could not be read), FILE (a file could not be
 * read or written), INTERRUPTED (Ctrl-C), INTERNAL (anything else: a bug to report).
 */
export type CliErrorCode = LshrsErrorCode | 'USAGE' | 'REDIS' | 'POSTGRES' | 'PARQUET' | 'FILE' | 'INTERRUPTED' | 'INTERNAL';

/** An error the command line raises itself, or one it has placed (a DuckDB error while reading a file). */
export class CliError extends Error {
  readonly code: CliErrorCode;
  /** The process' exit code: 2, the code of every error, unless said otherwise (130 after Ctrl-C). */
  readonly exitCode: number;

  constructor(code: CliErrorCode, message: string, exitCode: number = EXIT.error) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** The command line's exit codes. */
export const EXIT = {
  ok: 0,
  /** verify found problems (and did not repair them) */
  findings: 1,
  /** any error, usage errors included */
  error: 2,
  /** stopped by Ctrl-C (SIGINT); 143 for SIGTERM */
  interrupted: 130,
} as const;

/** Where the servers are, to place network errors and name the server in messages. */
export interface ErrorContext {
  redisUrl?: string;
  databaseUrl?: string;
}

// Every ioredis error (replies, aborted commands, cluster failures) derives from redis-errors'
// RedisError, ReplyError's base class.
const RedisError = Object.getPrototypeOf(ReplyError) as typeof Error;
const isRedisError = (err: Error): boolean => err instanceof RedisError;

const REDIS_MESSAGES =
  /^(Connection is closed\.|None of startup nodes is available|Cluster isn't ready|Failed to refresh slots cache|the cluster client knows no master)/;
const PG_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** `host:port` of a URL, without its credentials. */
function where(url: string | undefined, defaultPort: number): string {
  if (!url) return 'its URL';
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || defaultPort}`;
  } catch {
    return 'its URL';
  }
}

/** A message on one line: DuckDB's echo of the SQL and its caret dropped, line breaks folded. */
export function oneLine(message: string): string {
  const withoutSql = message.split(/\n\s*\nLINE \d+:/)[0];
  return withoutSql.replace(/\s*\n\s*/g, ' ').trim();
}

/** A file that cannot be read, as one line with code FILE. */
export function fileError(path: string, err: unknown): CliError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(err));
  return new CliError('FILE', `cannot read ${path}: ${reason}`);
}

/** The code and one-line message the command line reports for an error. */
export function describeError(err: unknown, context: ErrorContext = {}): { code: CliErrorCode; message: string } {
  if (err instanceof LshrsError || err instanceof CliError) return { code: err.code, message: oneLine(err.message) };
  if (!(err instanceof Error)) return { code: 'INTERNAL', message: oneLine(String(err)) };
  const message = oneLine(err.message);
  const sys = err as NodeJS.ErrnoException & { port?: number; address?: string; hostname?: string };
  const redisAt = where(context.redisUrl, 6379);
  const pgAt = where(context.databaseUrl, 5432);
  if (err.name === 'AbortError') return { code: 'INTERRUPTED', message: 'interrupted' };
  if (err.name === 'MaxRetriesPerRequestError') return { code: 'REDIS', message: `cannot reach Redis at ${redisAt} (no answer after retrying)` };
  // A connection lshrs opened names its server itself (RedisUnreachableError, PostgresUnreachableError).
  if (/^cannot reach Redis at /.test(message)) return { code: 'REDIS', message };
  if (/^cannot reach PostgreSQL at /.test(message)) return { code: 'POSTGRES', message };
  if (isRedisError(err) || REDIS_MESSAGES.test(message)) return { code: 'REDIS', message: `Redis: ${message}` };
  if (err instanceof pg.DatabaseError || PG_MESSAGES.test(message)) return { code: 'POSTGRES', message: `PostgreSQL: ${message}` };
  if (sys.code && NETWORK_CODES.has(sys.code)) {
    // ioredis retries its own connection errors and reports MaxRetriesPerRequestError: a bare one is pg's,
    // unless it names the Redis port.
    const port = sys.port === undefined ? undefined : String(sys.port);
    const toRedis = port !== undefined && port === redisAt.split(':').pop() && port !== pgAt.split(':').pop();
    return toRedis
      ? { code: 'REDIS', message: `cannot reach Redis at ${redisAt}: ${message}` }
      : { code: 'POSTGRES', message: `cannot reach PostgreSQL at ${pgAt}: ${message}` };
  }
  if (sys.code && sys.syscall && sys.path !== undefined) return { code: 'FILE', message };
  return { code: 'INTERNAL', message: `${err.name}: ${message}` };
}
