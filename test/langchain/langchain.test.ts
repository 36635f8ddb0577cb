/*
 * lshrs/langchain against the real servers, typed with LangChain's own classes: documents in,
 * similarity search with scores and metadata filters, delete, fromTexts/fromDocuments, a retriever.
 */
import { Document } from '@langchain/core/documents';
import { Embeddings } from '@langchain/core/embeddings';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { LSHRS, PostgresVectorStore } from '../../src';
import { LshrsVectorStore, type MetadataFilter } from '../../src/langchain';
import { uniqueName, useConnections } from '../support/servers';

const DIM = 64;

/** Deterministic embeddings: each word adds to a few hashed coordinates, so shared words mean nearness. */
class WordEmbeddings extends Embeddings {
  constructor() {
    super({});
  }

  async embedDocuments(texts: string[]): Promise<number[][]> {
    return texts.map((t) => this.embed(t));
  }

  async embedQuery(text: string): Promise<number[]> {
    return this.embed(text);
  }

  private embed(text: string): number[] {
    const v = new Array(DIM).fill(0);
    v[0] = 0.01; // never a zero vector
    for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
      let h = 2166136261;
      for (const ch of word) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
      for (let j = 0; j < 3; j++) v[(h >>> (j * 8)) % DIM] += j === 1 ? -1 : 1;
    }
    return v;
  }
}

let redis: Redis;
let pool: pg.Pool;
useConnections((c) => ({ redis, pool } = c));

async function freshStore(): Promise<{ table: string; vectorStore: LshrsVectorStore }> {
  const table = uniqueName('langchain');
  await LshrsVectorStore.createTable(pool, { table });
  const index = new LSHRS({ redis, dim: DIM, prefix: table, store: new PostgresVectorStore({ pool, table }), expectedSize: 100 });
  return { table, vectorStore: new LshrsVectorStore(new WordEmbeddings(), { index }) };
}

const TEXTS = [
  'the cat sat on the mat',
  'dogs chase cats in the garden',
  'redis keeps buckets in memory',
  'postgres stores rows in tables',
  'a cat and a dog play in the garden',
  'vector search finds nearest neighbours',
];
const METADATAS = TEXTS.map((_, i) => ({
  source: i % 2 === 0 ? 'even' : 'odd',
  year: 2018 + i,
  tags: { topic: i < 2 || i === 4 ? 'animals' : 'tech' },
}));

describe('LshrsVectorStore', () => {
  test('fromTexts, then a search with scores returns LangChain Documents with their metadata', async () => {
    const table = uniqueName('langchain');
    await LshrsVectorStore.createTable(pool, { table });
    const index = new LSHRS({ redis, dim: DIM, prefix: table, store: new PostgresVectorStore({ pool, table }), expectedSize: 100 });
    const vectorStore = await LshrsVectorStore.fromTexts(TEXTS, METADATAS, new WordEmbeddings(), { index });
    const [[doc, score]] = await vectorStore.similaritySearchWithScore('redis keeps buckets in memory', 1);
    expect(doc).toBeInstanceOf(Document);
    expect(doc.pageContent).toBe(TEXTS[2]);
    expect(doc.metadata).toEqual(METADATAS[2]);
    expect(typeof doc.id).toBe('string');
    expect(score).toBeCloseTo(1, 5);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${table}"`);
    expect(rows[0].n).toBe(TEXTS.length);
  });

  test('metadata filters: equality, ranges, nested keys, $or', async () => {
    const { vectorStore } = await freshStore();
    await vectorStore.addDocuments(TEXTS.map((text, i) => new Document({ pageContent: text, metadata: METADATAS[i] })));
    const search = async (filter: MetadataFilter) => (await vectorStore.similaritySearch('cat dog garden', 6, filter)).map((d) => d.pageContent);
    expect(new Set(await search({ source: 'odd' }))).toEqual(new Set([TEXTS[1], TEXTS[3], TEXTS[5]]));
    expect(new Set(await search({ year: { $gte: 2021 } }))).toEqual(new Set(TEXTS.slice(3)));
    expect(new Set(await search({ 'tags.topic': 'animals' }))).toEqual(new Set([TEXTS[0], TEXTS[1], TEXTS[4]]));
    expect(new Set(await search({ $or: [{ year: 2018 }, { year: { $in: [2023] } }] }))).toEqual(new Set([TEXTS[0], TEXTS[5]]));
    expect((await search({ source: 'odd', 'tags.topic': 'animals' }))[0]).toBe(TEXTS[1]);
  });

  test('ids: given, kept from the documents, or new; delete removes them from index and table', async () => {
    const { table, vectorStore } = await freshStore();
    const ids = await vectorStore.addDocuments([new Document({ pageContent: TEXTS[0], id: 'doc-a' }), new Document({ pageContent: TEXTS[1] })]);
    expect(ids[0]).toBe('doc-a');
    expect(ids[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(
      await vectorStore.addVectors([await new WordEmbeddings().embedQuery(TEXTS[2])], [new Document({ pageContent: TEXTS[2] })], { ids: ['given'] }),
    ).toEqual(['given']);
    await vectorStore.delete({ ids: ['doc-a'] });
    const found = await vectorStore.similaritySearch(TEXTS[0], 3);
    expect(found.map((d) => d.id)).not.toContain('doc-a');
    const { rows } = await pool.query(`SELECT id FROM "${table}" ORDER BY id`);
    expect(rows.map((r) => r.id)).toEqual([ids[1], 'given'].sort());
  });

  test('asRetriever() answers a LangChain retriever call, with the filter applied', async () => {
    const { vectorStore } = await freshStore();
    await vectorStore.addDocuments(TEXTS.map((text, i) => new Document({ pageContent: text, metadata: METADATAS[i] })));
    const retriever = vectorStore.asRetriever({ k: 2, filter: { source: 'even' } });
    const docs = await retriever.invoke('a cat in the garden');
    expect(docs).toHaveLength(2);
    expect(docs.every((d) => d.metadata.source === 'even')).toBe(true);
    expect(docs[0].pageContent).toBe(TEXTS[4]);
  });

  test('a bad filter is BAD_OPTION and changes nothing', async () => {
    const { table, vectorStore } = await freshStore();
    await vectorStore.addDocuments(TEXTS.map((text, i) => new Document({ pageContent: text, metadata: METADATAS[i] })));
    for (const filter of [{ $where: 'true' }, { source: { $regex: '.*' } }, { "source'; DROP TABLE x; --": { nested: {} } }]) {
      await expect(vectorStore.similaritySearch('cat', 2, filter as MetadataFilter)).rejects.toMatchObject({ code: 'BAD_OPTION' });
    }
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${table}"`);
    expect(rows[0].n).toBe(TEXTS.length);
  });
});
