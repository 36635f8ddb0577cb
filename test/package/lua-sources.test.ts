import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LUA_SOURCES } from '../../src/redis/lua-sources.generated';

// lshrs sends Redis the Lua compiled into src/redis/lua-sources.generated.ts, not lua/*.lua: the
// module is committed, so a change to a .lua file must come with `npm run build:lua`.
const ROOT = resolve(__dirname, '..', '..');
const LUA = join(ROOT, 'lua');
const GENERATOR = join(ROOT, 'scripts', 'build-lua.mjs');

test('the compiled scripts are lua/common.lua and a newline before each lua/<name>.lua', () => {
  const common = readFileSync(join(LUA, 'common.lua'), 'utf8');
  const names = readdirSync(LUA)
    .filter((file) => file.endsWith('.lua') && file !== 'common.lua')
    .map((file) => file.slice(0, -'.lua'.length))
    .sort();
  expect(Object.keys(LUA_SOURCES).sort()).toEqual(names);
  expect(names).toEqual(expect.arrayContaining(['ids', 'insert', 'remove', 'repair']));
  for (const name of names) {
    const expected = `${common}\n${readFileSync(join(LUA, `${name}.lua`), 'utf8')}`;
    // Not toBe: a mismatch should name the stale script, not print two 10 kB strings.
    if (LUA_SOURCES[name as keyof typeof LUA_SOURCES] !== expected) {
      throw new Error(`src/redis/lua-sources.generated.ts is stale for lua/${name}.lua: run npm run build:lua`);
    }
  }
});

test('the committed module is what the generator writes today (npm run build:lua --check)', () => {
  const result = spawnSync(process.execPath, [GENERATOR, '--check'], { cwd: ROOT, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
});

test('the generator picks up any new script file and keeps every character', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lshrs-lua-'));
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Lua text that must survive the generator verbatim
    const common = '-- common: a `tick`, a ${brace}, a \\ backslash\r\n';
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Lua text that must survive the generator verbatim
    const extra = 'return "${not interpolated}" .. `x` .. "\\n"\r\n';
    writeFileSync(join(dir, 'common.lua'), common);
    writeFileSync(join(dir, 'extra.lua'), extra);
    writeFileSync(join(dir, 'query.lua'), 'return 1\n');
    const out = join(dir, 'generated.ts');
    execFileSync(process.execPath, [GENERATOR, '--lua-dir', dir, '--out', out], { stdio: 'pipe' });
    const written = readFileSync(out, 'utf8');
    const generated = jest.requireActual<{ LUA_SOURCES: Record<string, string> }>(out).LUA_SOURCES;
    expect(generated).toEqual({ extra: `${common}\n${extra}`, query: `${common}\nreturn 1\n` });
    // Stale against its folder once a script changes; --check says so and leaves the file alone.
    writeFileSync(join(dir, 'query.lua'), 'return 2\n');
    const check = spawnSync(process.execPath, [GENERATOR, '--check', '--lua-dir', dir, '--out', out], { encoding: 'utf8' });
    expect(check.status).toBe(1);
    expect(check.stderr).toMatch(/is stale .*run npm run build:lua/);
    expect(readFileSync(out, 'utf8')).toBe(written);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
