/*
 * A host process that lets lshrs open its own connections (a URL, a connection string), for
 * test/lshrs/owned-connections.test.ts: an unhandled 'error' event kills a process, and ioredis
 * prints to stderr, so what these scenarios must show is this process's exit code and output.
 * One line of JSON on stdout per step; nothing else on stdout or stderr.
 */
import { createInterface } from 'node:readline';
import pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';

const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const failure = (err: unknown) => ({ error: (err as Error).message, cause: ((err as Error).cause as Error | undefined)?.message });

/** Waits, without a fixed sleep, until `condition` holds (bounded: a stuck wait fails the step). */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The next line the parent writes on stdin. */
async function nextLine(): Promise<string> {
  const lines = createInterface({ input: process.stdin });
  try {
    for await (const line of lines) return line;
    return '';
  } finally {
    lines.close();
    process.stdin.destroy();
  }
}

async function main(scenario: string, url: string, table: string): Promise<void> {
  if (scenario === 'pg-terminated') {
    // An idle connection of the store's own pool is ended by the server (57P01), as a restart does.
    const applicationName = `lshrs_owned_${process.pid}`;
    const store = new PostgresVectorStore({ connectionString: `${url}?application_name=${applicationName}`, table });
    say({ fetched: [...(await store.fetch([1]))].map((r) => r.id) });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const { rows } = await admin.query('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    await admin.end();
    say({ terminated: rows.length });
    // The pool has heard of it once it dropped the connection (before the fix, the process died here).
    const pool = (store as unknown as { pool: pg.Pool }).pool;
    await until(() => pool.totalCount === 0, 'the pool dropped its terminated connection');
    say({ fetched: [...(await store.fetch([1]))].map((r) => r.id) });
    await store.close();
  } else if (scenario === 'pg-unreachable') {
    const store = new PostgresVectorStore({ connectionString: url, table });
    say(await store.fetch([1]).then(() => ({ fetched: true }), failure));
    await store.close();
  } else if (scenario === 'redis-stopped') {
    // The parent stops the server after the first step and says so on stdin.
    const lsh = new LSHRS({ redis: url, dim: 4, prefix: table });
    say({ ids: (await lsh.describe()).ids });
    if ((await nextLine()) !== 'stopped') throw new Error('expected "stopped" on stdin');
    say(await lsh.describe().then(() => ({ described: true }), failure));
    await lsh.close();
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
}

const [scenario, url, table] = process.argv.slice(2);
main(scenario, url, table).catch((err) => {
  process.stderr.write(`child failed: ${(err as Error).stack}\n`);
  process.exitCode = 1;
});
