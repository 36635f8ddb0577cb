import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { databaseUrl, redisUrl } from './servers';

const MAIN = join(__dirname, '..', '..', 'src', 'cli', 'main.ts');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a run: the test servers' URLs, with `env`'s entries over them (undefined removes one). */
function cliEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: redisUrl(), DATABASE_URL: databaseUrl() };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  return merged;
}

/** Runs the `lshrs` command line from the sources, against the test servers, as a user's shell would. */
export function lshrs(args: string[], env?: Record<string, string | undefined>): CliResult {
  const result = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: cliEnv(env), encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts the command line without waiting for it (to kill or interrupt it midway). */
export function lshrsProcess(args: string[], env?: Record<string, string | undefined>) {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
}
