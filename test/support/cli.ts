import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { databaseUrl, redisUrl } from './servers';

const MAIN = join(__dirname, '..', '..', 'src', 'cli', 'main.ts');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cliEnv(): NodeJS.ProcessEnv {
  return { ...process.env, REDIS_URL: redisUrl(), DATABASE_URL: databaseUrl() };
}

/** Runs the `lshrs` command line from the sources, against the test servers, as a user's shell would. */
export function lshrs(args: string[]): CliResult {
  const result = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: cliEnv(), encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts the command line without waiting for it (to kill it midway). */
export function lshrsProcess(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}
