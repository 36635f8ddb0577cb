/*
 * lshrs/langchain: a LangChain.js VectorStore over an lshrs index and a PostgresVectorStore table
 * with a jsonb metadata column. Documents are rows (id, embedding, text, metadata); a search is an
 * lshrs query whose filter names metadata keys. @langchain/core is an optional peer dependency: only
 * this entry point loads it.
 */
import { randomUUID } from 'node:crypto';
import { Document, type DocumentInterface } from '@langchain/core/documents';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { VectorStore } from '@langchain/core/vectorstores';
import type pg from 'pg';
import { LshrsError } from '../errors';
import type { Id } from '../ids';
import type { LSHRS } from '../lshrs';
import type { Filter } from '../stores/filter';
import { PostgresVectorStore } from '../stores/postgres';

export interface LshrsVectorStoreArgs {
  /** The lshrs index; its store must be a PostgresVectorStore (or any store that writes `row`s and filters). */
  index: LSHRS;
  /** The jsonb column that holds each document's metadata. @defaultValue "metadata" */
  metadataColumn?: string;
}

/**
 * A filter over the documents' metadata: keys are metadata keys (`{ source: 'wiki', year: { $gt:
 * 2020 } }`, nested keys as `a.b`), with lshrs' operators ($eq $ne $gt $gte $lt $lte $in $nin $null,
 * $and $or $not).
 */
export type MetadataFilter = Filter;

/** A metadata filter as an lshrs filter: every key becomes a key path of the metadata column. */
function metadataFilter(filter: MetadataFilter, column: string): Filter {
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw new LshrsError('BAD_OPTION', 'filter: a LangChain filter must be an object of metadata keys');
  }
  const out: Filter = {};
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value)) throw new LshrsError('BAD_OPTION', `filter: ${key} must be an array of filters`);
      out[key] = value.map((f: MetadataFilter) => metadataFilter(f, column));
    } else if (key === '$not') {
      out.$not = metadataFilter(value as MetadataFilter, column);
    } else if (key.startsWith('$')) {
      throw new LshrsError('BAD_OPTION', `filter: ${key} is not a metadata filter operator ($and, $or, $not, or a metadata key)`);
    } else {
      out[`${column}.${key}`] = value;
    }
  }
  return out;
}

export class LshrsVectorStore extends VectorStore {
  declare FilterType: MetadataFilter;

  readonly index: LSHRS;
  readonly metadataColumn: string;

  _vectorstoreType(): string {
    return 'lshrs';
  }

  constructor(embeddings: EmbeddingsInterface, args: LshrsVectorStoreArgs) {
    super(embeddings, args);
    this.index = args.index;
    this.metadataColumn = args.metadataColumn ?? 'metadata';
  }

  /**
   * Creates the table a LangChain store needs, if absent: a text id, a float32 `bytea` embedding,
   * the text and a jsonb metadata column (with a GIN index for equality filters).
   */
  static async createTable(pool: pg.Pool, options: { table: string; metadataColumn?: string }): Promise<void> {
    await PostgresVectorStore.createTable(pool, { table: options.table, idType: 'text', metadataColumn: options.metadataColumn ?? 'metadata' });
  }

  /** Writes the documents (text, metadata) and their vectors; returns their ids (`options.ids`, each document's own id, or new UUIDs). */
  async addVectors(vectors: number[][], documents: DocumentInterface[], options?: { ids?: string[] }): Promise<string[]> {
    if (vectors.length !== documents.length) {
      throw new LshrsError('BAD_OPTION', `addVectors: ${vectors.length} vectors for ${documents.length} documents`);
    }
    if (options?.ids && options.ids.length !== documents.length) {
      throw new LshrsError('BAD_OPTION', `addVectors: ${options.ids.length} ids for ${documents.length} documents`);
    }
    const ids = documents.map((doc, i) => options?.ids?.[i] ?? doc.id ?? randomUUID());
    await this.index.index(
      documents.map((doc, i) => ({ id: ids[i], vector: vectors[i], text: doc.pageContent, row: { [this.metadataColumn]: doc.metadata ?? {} } })),
    );
    return ids;
  }

  async addDocuments(documents: DocumentInterface[], options?: { ids?: string[] }): Promise<string[]> {
    const vectors = await this.embeddings.embedDocuments(documents.map((doc) => doc.pageContent));
    return this.addVectors(vectors, documents, options);
  }

  /** The `k` nearest documents with their cosine similarity, only those whose metadata match `filter`. */
  async similaritySearchVectorWithScore(query: number[], k: number, filter?: this['FilterType']): Promise<[DocumentInterface, number][]> {
    const hits = await this.index.query(query, {
      topK: k,
      columns: [this.metadataColumn],
      ...(filter === undefined ? {} : { filter: metadataFilter(filter, this.metadataColumn) }),
    });
    return hits.map((hit) => {
      const metadata = (hit.row?.[this.metadataColumn] ?? {}) as Record<string, unknown>;
      return [new Document({ id: String(hit.id), pageContent: hit.text ?? '', metadata }), hit.score];
    });
  }

  /** Deletes documents by id, from the index and the table. */
  async delete(params?: { ids?: readonly Id[] }): Promise<void> {
    if (!params?.ids) throw new LshrsError('BAD_OPTION', 'delete needs { ids }');
    await this.index.delete(params.ids);
  }

  static async fromTexts(
    texts: string[],
    metadatas: object[] | object,
    embeddings: EmbeddingsInterface,
    args: LshrsVectorStoreArgs,
  ): Promise<LshrsVectorStore> {
    const docs = texts.map(
      (text, i) => new Document({ pageContent: text, metadata: (Array.isArray(metadatas) ? metadatas[i] : metadatas) as Record<string, unknown> }),
    );
    return LshrsVectorStore.fromDocuments(docs, embeddings, args);
  }

  static async fromDocuments(docs: DocumentInterface[], embeddings: EmbeddingsInterface, args: LshrsVectorStoreArgs): Promise<LshrsVectorStore> {
    const store = new LshrsVectorStore(embeddings, args);
    await store.addDocuments(docs);
    return store;
  }
}
