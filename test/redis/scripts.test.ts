import { Redis, type Command } from 'ioredis';
import { LUA_SOURCES } from '../../src/redis/lua-sources.generated';
import { runScript, type ScriptName } from '../../src/redis/scripts';

// Which commands a script call hands the client, answered here without a server: what matters is
// the flag ioredis routes by (a cluster client with scaleReads sends read-only commands to
// replicas), not what the script does.
test('only the ids script is registered read-only, so scaleReads may send it to a replica', async () => {
  const client = new Redis({ lazyConnect: true });
  const sent: { name: string; readOnly: boolean }[] = [];
  client.sendCommand = ((command: Command) => {
    sent.push({ name: command.name, readOnly: command.isReadOnly === true });
    command.resolve('ok');
    return command.promise;
  }) as Redis['sendCommand'];
  try {
    const names = Object.keys(LUA_SOURCES) as ScriptName[];
    for (const name of names) {
      await expect(runScript(client, name, ['{t}:meta'], ['x'])).resolves.toBe('ok');
    }
    expect(sent.map((s) => s.name)).toEqual(names.map(() => 'evalsha'));
    expect(Object.fromEntries(names.map((name, i) => [name, sent[i].readOnly]))).toEqual(
      Object.fromEntries(names.map((name) => [name, name === 'ids'])),
    );
  } finally {
    client.disconnect();
  }
});
