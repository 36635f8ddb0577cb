import { createHash } from 'node:crypto';
import type { RedisClient } from './connection';
import { LUA_SOURCES } from './lua-sources.generated';

/**
 * The operations lshrs runs in Redis, one Lua file each: lua/<name>.lua, compiled into
 * lua-sources.generated.ts by `npm run build:lua`, so no file is read at run time.
 */
export type ScriptName = keyof typeof LUA_SOURCES;

/** Scripts that write nothing: a cluster client with `scaleReads` may send them to a replica. */
const READ_ONLY: ReadonlySet<ScriptName> = new Set<ScriptName>(['ids']);

interface Registered {
  command: string;
  lua: string;
  readOnly: boolean;
}

const registry = new Map<ScriptName, Registered>();

function registered(name: ScriptName): Registered {
  let entry = registry.get(name);
  if (!entry) {
    const lua = LUA_SOURCES[name];
    // The command name carries the script's digest: two lshrs versions sharing a host's
    // connection never overwrite each other's scripts.
    const digest = createHash('sha1').update(lua).digest('hex').slice(0, 12);
    entry = { command: `lshrs_${name}_${digest}`, lua, readOnly: READ_ONLY.has(name) };
    registry.set(name, entry);
  }
  return entry;
}

type ScriptCommand = (numberOfKeys: number, ...args: (string | number | Buffer)[]) => Promise<unknown>;

/**
 * Runs one script as a single EVALSHA (ioredis falls back to EVAL by itself when the server's
 * script cache lacks it, e.g. after SCRIPT FLUSH or a failover).
 */
export function runScript(
  client: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
): Promise<unknown> {
  const { command, lua, readOnly } = registered(name);
  const target = client as unknown as Record<string, ScriptCommand | undefined>;
  if (typeof target[command] !== 'function') client.defineCommand(command, { lua, readOnly });
  return (target[command] as ScriptCommand).call(client, keys.length, ...keys, ...args);
}
