/*
 * Connections lshrs opens itself (a Redis URL, a PostgreSQL connection string) have nobody else
 * listening to them: their errors must neither kill the host process nor print anything, and a
 * call that cannot reach the server fails with one line naming it. Each scenario runs in a child
 * process (test/support/owned-connections-child.ts), since what an unhandled 'error' event does is
 * end the process, and what ioredis does is write to stderr.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort, startRedis, type Throwaway } from '../../dev/servers';
import { PostgresVectorStore } from '../../src';
import { databaseUrl, newPool, uniqueName } from '../support/servers';

const CHILD = join(__dirname, '..', 'support', 'owned-connections-child.ts');

interface Child {
  steps: () => Promise<unknown[]>;
  write(line: string): void;
  nextStep(): Promise<unknown>;
  exit: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function runChild(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiting: (() => void)[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const wake of waiting.splice(0)) wake();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      for (const wake of waiting.splice(0)) wake();
      resolve({ code, stdout, stderr });
    }),
  );
  const parsed = () =>
    stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line));
  let seen = 0;
  return {
    steps: async () => {
      await exit;
      return parsed();
    },
    write: (line) => child.stdin.write(`${line}\n`),
    // Resolves on the child's next complete line of output (or its exit).
    async nextStep() {
      while (stdout.split('\n').length - 1 <= seen && child.exitCode === null) await new Promise<void>((wake) => waiting.push(wake));
      seen += 1;
      return parsed()[seen - 1];
    },
    exit,
  };
}

test('a store opened from a connection string survives the server ending its idle connection (57P01)', async () => {
  const table = uniqueName('owned_pg');
  const pool = newPool();
  try {
    await PostgresVectorStore.createTable(pool, { table });
    await pool.query(`INSERT INTO "${table}" (id, embedding) VALUES (1, '\\x0000803f0000803f'::bytea)`);
  } finally {
    await pool.end();
  }
  const child = runChild(['pg-terminated', databaseUrl(), table]);
  const { code, stderr } = await child.exit;
  expect(stderr).toBe('');
  expect(code).toBe(0);
  // The terminated connection is dropped and the next call opens a new one.
  expect(await child.steps()).toEqual([{ fetched: ['1'] }, { terminated: 1 }, { fetched: ['1'] }]);
});

test('a store opened from a connection string to a server that is not there fails with one line naming it', async () => {
  const port = await freePort();
  const child = runChild(['pg-unreachable', `postgresql://postgres@127.0.0.1:${port}/postgres`, 'items']);
  const { code, stderr } = await child.exit;
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(await child.steps()).toEqual([{ error: `cannot reach PostgreSQL at 127.0.0.1:${port}: connect ECONNREFUSED`, cause: expect.any(String) }]);
});

describe('a Redis opened from a URL', () => {
  let server: Throwaway | undefined;
  afterEach(async () => {
    await server?.stop();
  });

  test('whose server stops: nothing is printed, and the next call fails with one line naming the server', async () => {
    server = await startRedis();
    const url = server.url;
    const child = runChild(['redis-stopped', url, uniqueName('owned_redis')]);
    expect(await child.nextStep()).toEqual({ ids: 0 });
    await server.stop();
    server = undefined;
    child.write('stopped');
    const { code, stderr } = await child.exit;
    expect(stderr).toBe(''); // no "[ioredis] Unhandled error event" lines
    expect(code).toBe(0);
    const address = new URL(url).host;
    expect((await child.steps())[1]).toEqual({
      error: `cannot reach Redis at ${address}: connect ECONNREFUSED`,
      cause: expect.stringMatching(/max retries per request|Connection is closed/),
    });
  });
});
