/*
 * Builds data/demo.parquet (about 2,000 real Wikipedia sentences with their 512-d embeddings) and
 * data/demo-queries.parquet (held-out query sentences whose true neighbours are in the demo set)
 * from ../shared/data/wikitext103-use512. Run once by a maintainer: npm run make-demo-data.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { float32FromLE } from '../src/float32';

const SOURCE = resolve(__dirname, '..', '..', 'shared', 'data', 'wikitext103-use512');
const OUT = resolve(__dirname, '..', 'data');
const DIM = 512;
const TARGET_ROWS = 2000;
const QUERY_COUNT = 8;

function floats(file: string): Float32Array {
  return float32FromLE(readFileSync(join(SOURCE, file)));
}

function jsonl<T>(file: string): T[] {
  return readFileSync(join(SOURCE, file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);
}

interface Row {
  id: number;
  embedding: Uint8Array;
  text: string;
}

/** Writes rows to a parquet file through DuckDB: id BIGINT, embedding BLOB, text VARCHAR. */
async function writeParquet(filename: string, rows: Row[]): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run('CREATE TABLE demo (id BIGINT, embedding BLOB, text VARCHAR)');
    const appender = await connection.createAppender('demo');
    for (const row of rows) {
      appender.appendBigInt(BigInt(row.id));
      appender.appendBlob(row.embedding);
      appender.appendVarchar(row.text);
      appender.endRow();
    }
    appender.closeSync();
    await connection.run(`COPY demo TO '${filename.replace(/'/g, "''")}' (FORMAT parquet, ROW_GROUP_SIZE 1024)`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function main(): Promise<void> {
  const vectors = floats('vectors.f32');
  const queries = floats('queries.f32');
  const texts = jsonl<{ id: number; text: string; article: string }>('texts.jsonl');
  const queryTexts = jsonl<{ text: string }>('queries.jsonl');
  const truth = new Int32Array(readFileSync(join(SOURCE, 'gt.i32')).buffer.slice(0));

  // Whole articles, in order, until about TARGET_ROWS sentences: neighbours stay inside the set.
  const articles: string[] = [];
  const chosen: number[] = [];
  for (const row of texts) {
    if (!articles.includes(row.article)) {
      if (chosen.length >= TARGET_ROWS) break;
      articles.push(row.article);
    }
    chosen.push(row.id);
  }
  const inSet = new Set(chosen);

  // Float32 little-endian bytes: half the size of a list of doubles, and read back bit for bit.
  const embedding = (data: Float32Array, i: number) => new Uint8Array(data.slice(i * DIM, (i + 1) * DIM).buffer);
  await writeParquet(
    join(OUT, 'demo.parquet'),
    chosen.map((i) => ({ id: i, embedding: embedding(vectors, i), text: texts[i].text })),
  );

  // Queries whose exact top-10 lies wholly in the demo set.
  const picked: number[] = [];
  for (let q = 0; q < queryTexts.length && picked.length < QUERY_COUNT; q++) {
    if (Array.from(truth.subarray(q * 100, q * 100 + 10)).every((id) => inSet.has(id))) picked.push(q);
  }
  await writeParquet(
    join(OUT, 'demo-queries.parquet'),
    picked.map((q) => ({ id: q, embedding: embedding(queries, q), text: queryTexts[q].text })),
  );
  process.stdout.write(`demo.parquet: ${chosen.length} sentences from ${articles.length} articles; demo-queries.parquet: ${picked.length} queries\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
