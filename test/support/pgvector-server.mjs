// A PostgreSQL with the real pgvector extension for the store tests: PGlite (PostgreSQL compiled
// to WASM) served over the wire protocol on a free loopback port. Debian 12 ships no pgvector
// package, so this is how the `vector` column type is tested against real pgvector code.
// Prints "ready <host:port>" once listening; stops on SIGTERM or when stdin closes.
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const db = await PGlite.create({ extensions: { vector } });
const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1' });
await server.start();
process.stdout.write(`ready ${server.getServerConn()}\n`);

const stop = async () => {
  await server.stop();
  await db.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
