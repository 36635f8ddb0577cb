#!/usr/bin/env node
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { LshrsError } from '../errors';
import type { Id } from '../ids';
import type { LSHRS } from '../lshrs';
import { defaultProbes, type IndexDescription, type IndexResult, type StoreInfo } from '../options';
import { SIZED_BANDS, sizedRows } from '../params/shape';
import { tuneCandidates } from '../params/tune';
import type { Hit } from '../query/rerank';
import type { PostgresVectorStore } from '../stores/postgres';
import { CliContext, optionalInt, optionalNumber, parseId, readVectorFile, type GlobalOptions, type ShapeFlags, type TableInfo } from './context';
import { CliError, describeError, EXIT, oneLine } from './errors';
import { onInterrupt } from './interrupt';
import { bytes, clip, print, printError, printJson, table } from './output';
import { ParquetRows } from './parquet-rows';
import { progressReporter } from './progress';
import { sCurveSvg } from './scurve-svg';

/** lshrs' version, from its package.json: two folders up from src/cli/main.ts and from dist/cli/main.js alike. */
function packageVersion(): string {
  try {
    return String(JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')).version);
  } catch {
    return 'unknown';
  }
}

/** With --json anywhere on the line, errors (usage errors too) are JSON on stdout. */
const jsonWanted = process.argv.includes('--json');

const program = new Command('lshrs')
  .description('Operate an lshrs index: LSH buckets in Redis, vectors in PostgreSQL.')
  .version(packageVersion(), '-V, --version', 'print the lshrs version')
  // Every subcommand's help lists these global options too.
  .configureHelp({ showGlobalOptions: true })
  // Commander's own errors are reported like every other: one line, a code, exit 2 (see the end).
  .configureOutput({ outputError: () => undefined })
  .exitOverride()
  .addOption(new Option('--redis <url>', 'Redis URL; a cluster node stands for its whole cluster').env('REDIS_URL').default('redis://127.0.0.1:6379'))
  .addOption(new Option('--database <url>', 'PostgreSQL URL of the vector table').env('DATABASE_URL'))
  .option('--prefix <name>', 'the index: its keys are {prefix}:...', 'lshrs')
  .addOption(
    new Option('--table <name>', 'the vector table, optionally schema-qualified').default(
      'lshrs_items',
      'the table the index recorded, else "lshrs_items"',
    ),
  )
  .addOption(new Option('--id-column <name>', 'id column of the table').default('id', 'the recorded one, else "id"'))
  .addOption(new Option('--vector-column <name>', 'embedding column of the table').default('embedding', 'the recorded one, else "embedding"'))
  .addOption(new Option('--text-column <name>', 'text column of the table ("" for none)').default('text', 'the recorded one, else "text"'))
  .option('--json', 'machine-readable output (errors too: {"error": {"code", "message"}})');

const TABLE_OPTIONS = ['table', 'idColumn', 'vectorColumn', 'textColumn'] as const;

/** Reports an error in one line with its code; returns the exit code. */
function reportError(err: unknown, json: boolean, ctx?: CliContext): number {
  const { code, message } = describeError(err, { redisUrl: ctx?.redisUrl, databaseUrl: ctx?.databaseUrl });
  printError(code, message, json);
  return err instanceof CliError ? err.exitCode : EXIT.error;
}

/** Runs a command with its connections, closing them after; every error becomes one line with a code (exit 2). */
function action(run: (ctx: CliContext, json: boolean, ...args: never[]) => Promise<number | undefined>) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const options = command.optsWithGlobals() as GlobalOptions;
    const json = options.json === true;
    const given = TABLE_OPTIONS.filter((name) => command.getOptionValueSourceWithGlobals(name) === 'cli');
    const ctx = new CliContext(options, given);
    let code: number;
    try {
      code = (await (run as (...a: unknown[]) => Promise<number | undefined>)(ctx, json, ...args.slice(0, -1))) ?? EXIT.ok;
    } catch (err) {
      code = reportError(err, json, ctx);
    } finally {
      await ctx.close().catch(() => undefined);
    }
    process.exitCode = code;
  };
}

/** The command that continues where this one stopped, with the prefix when it is not the default. */
function again(ctx: CliContext, rest: string): string {
  return `lshrs ${ctx.options.prefix === 'lshrs' ? '' : `--prefix ${ctx.options.prefix} `}${rest}`;
}

const sameTable = (recorded: StoreInfo | null | undefined, table: TableInfo) =>
  recorded?.kind === table.kind &&
  recorded.table === table.table &&
  recorded.idColumn === table.idColumn &&
  recorded.vectorColumn === table.vectorColumn &&
  (recorded.textColumn ?? null) === table.textColumn;

/**
 * Records the command's table in the index's meta, so that later commands need only --prefix: at
 * once for an index that exists, after the first batch lands for a new one (`landed`, from
 * onProgress), so that no meta is written for an index that never got an id.
 */
async function tableRecorder(ctx: CliContext, lsh: LSHRS, described: IndexDescription | null) {
  const info = ctx.tableInfo;
  let recording: Promise<unknown> | undefined = sameTable(described?.store, info) ? Promise.resolve() : undefined;
  if (!recording && described) recording = lsh.recordStore(info);
  await recording;
  return {
    landed() {
      if (recording) return;
      recording = lsh.recordStore(info);
      recording.catch(() => undefined); // awaited by settle()
    },
    settle: () => recording,
  };
}

const shapeOptions = (command: Command) =>
  command
    .option('--seed <seed>', 'hyperplane seed of a new index (default 42)')
    .option('--num-perm <n>', 'hyperplane budget of a new index (default 128)')
    .option('--bands <n>', 'bands of a new index (default: planned)')
    .option('--rows <n>', 'rows per band of a new index (default: planned)')
    .option('--shards <n>', 'shards of a new index, each under its own hash tag (default 1)')
    .option(
      '--expected-size <n>',
      'ids a new index is planned for: 4 bands, rows so buckets hold about 64 ids on average (default: the rows being indexed, unless --bands, --rows or --num-perm is given)',
    );

function summary(verb: string, result: IndexResult, seconds: number): string {
  const rows = result.added + result.moved + result.unchanged;
  const skipped = result.skipped === undefined ? '' : `, ${result.skipped} skipped (NULL or unusable vectors)`;
  return `${verb} ${rows} rows in ${seconds.toFixed(1)} s (${Math.round(rows / Math.max(seconds, 1e-9))}/s): ${result.added} added, ${result.moved} moved, ${result.unchanged} unchanged${skipped}`;
}

shapeOptions(
  program
    .command('load')
    .description(
      'load a parquet file into the vector table and the index (the table is created if missing); Ctrl-C stops it after the batch in flight',
    )
    .argument('<file>', 'parquet file with id, embedding and text columns')
    .option('--file-id-column <name>', 'id column in the file', 'id')
    .option('--file-vector-column <name>', 'embedding column in the file (list of floats or float32 bytes)', 'embedding')
    .option('--file-text-column <name>', 'text column in the file ("" for none)', 'text'),
).action(
  action(async (ctx, json, file: string, flags: ShapeFlags & { fileIdColumn: string; fileVectorColumn: string; fileTextColumn: string }) => {
    const parquet = new ParquetRows(file, {
      idColumn: flags.fileIdColumn,
      vectorColumn: flags.fileVectorColumn,
      textColumn: flags.fileTextColumn || null,
    });
    const first = await parquet.first();
    if (!first) throw new LshrsError('BAD_OPTION', `${file} has no rows`);
    const dim = first.vector.length;
    // The index's recorded table (or a refusal of another), and its dimension, before anything is written.
    const described = await ctx.describeIndex();
    ctx.checkDimension(described, dim, file);
    const store = ctx.vectorStore(true) as PostgresVectorStore;
    await store.createTableIfMissing({ idType: typeof first.id === 'number' ? 'bigint' : 'text' });
    const total = await parquet.count();
    const { lsh } = await ctx.openOrCreate(dim, flags, file, async () => (await store.count(null)) + total);
    const recorder = await tableRecorder(ctx, lsh, described);
    const progress = progressReporter('load', !json);
    const interrupt = onInterrupt();
    const started = performance.now();
    let done = 0;
    let result: IndexResult;
    try {
      result = await lsh.index(parquet.rows(dim), {
        total,
        signal: interrupt.signal,
        onProgress: (p) => {
          done = p.done;
          recorder.landed();
          progress.update(p);
        },
      });
    } catch (err) {
      if (!interrupt.signal.aborted) throw err;
      throw new CliError(
        'INTERRUPTED',
        `interrupted after ${done} of ${total} rows of ${file}; run ${again(ctx, `load ${file}`)} to finish (the rows loaded come back unchanged)`,
        interrupt.exitCode,
      );
    } finally {
      interrupt.dispose();
      progress.stop();
      await recorder.settle();
    }
    const seconds = (performance.now() - started) / 1000;
    if (json) printJson({ file, table: ctx.tableInfo.table, prefix: ctx.options.prefix, ...result, seconds });
    else print(summary(`loaded ${file}:`, result, seconds));
  }),
);

shapeOptions(
  program
    .command('index')
    .description('build the index from every row of the vector table; Ctrl-C stops it after the batch in flight, and --resume continues')
    .option('--resume', 'continue an interrupted build from the position it recorded')
    .option('--skip-invalid', 'skip and count rows whose vector is NULL or unusable, instead of stopping at the first'),
).action(
  action(async (ctx, json, flags: ShapeFlags & { resume?: boolean; skipInvalid?: boolean }) => {
    const described = await ctx.describeIndex();
    const store = ctx.vectorStore(true) as PostgresVectorStore;
    const sample = (await store.scan(null, 100)).find((row) => row.vector !== null);
    if (!sample?.vector) throw new LshrsError('BAD_STORE', `table ${ctx.tableInfo.table} has no rows with a vector to index`);
    const { lsh } = await ctx.openOrCreate(sample.vector.length, flags, `table ${ctx.tableInfo.table}`, () => store.count(null));
    const recorder = await tableRecorder(ctx, lsh, described);
    const progress = progressReporter('index', !json);
    const interrupt = onInterrupt();
    const started = performance.now();
    let result: IndexResult;
    try {
      result = await lsh.index(undefined, {
        resume: flags.resume === true,
        skipInvalid: flags.skipInvalid === true,
        signal: interrupt.signal,
        onProgress: (p) => {
          recorder.landed();
          progress.update(p);
        },
      });
    } catch (err) {
      if (!interrupt.signal.aborted) throw err;
      progress.stop();
      await recorder.settle();
      // The build recorded where it stopped (buildState 'interrupted', buildCursor the last id that landed).
      const cursor = (await lsh.describe()).build?.cursor;
      throw new CliError(
        'INTERRUPTED',
        cursor
          ? `interrupted at id ${cursor}; run ${again(ctx, 'index --resume')} to continue`
          : `interrupted before the first batch landed; run ${again(ctx, 'index')} to start again`,
        interrupt.exitCode,
      );
    } finally {
      interrupt.dispose();
      progress.stop();
      await recorder.settle();
    }
    const seconds = (performance.now() - started) / 1000;
    if (json) printJson({ prefix: ctx.options.prefix, table: ctx.tableInfo.table, resumed: flags.resume === true, ...result, seconds });
    else print(summary(flags.resume ? 'resumed: indexed' : 'indexed', result, seconds));
  }),
);

interface QueryFlags {
  topK: string;
  topP?: string;
  rerankCandidates?: string;
  probes?: string;
  rerank: boolean;
}

const queryOptions = (command: Command) =>
  command
    .option('--top-k <n>', 'results', '10')
    .option('--top-p <p>', 'fraction of the rerank candidates to rerank, in (0, 1]')
    .option('--rerank-candidates <n>', "candidates fetched and reranked, the closest by sketch (default: the index's)")
    .option('--probes <n>', "buckets read in each band: the query's own, then the likeliest bit flips (default: the index's)")
    .option('--no-rerank', 'the sketch ranking only, without the vector table');

function queryOptionsFrom(flags: QueryFlags) {
  return {
    topK: optionalInt(flags.topK, '--top-k'),
    topP: optionalNumber(flags.topP, '--top-p'),
    rerankCandidates: optionalInt(flags.rerankCandidates, '--rerank-candidates'),
    probes: optionalInt(flags.probes, '--probes'),
    rerank: flags.rerank,
  };
}

function printHits(hits: Hit[], json: boolean): void {
  if (json) {
    printJson(hits);
    return;
  }
  if (hits.length === 0) {
    print('no candidates share a bucket with the query');
    return;
  }
  print(
    table(
      ['rank', 'id', 'score', 'collisions', 'text'],
      hits.map((h, i) => [i + 1, String(h.id), h.score.toFixed(4), h.collisions, clip(h.text, 70)]),
    ),
  );
}

queryOptions(
  program
    .command('query')
    .description('the nearest items to a vector, or to the stored vector of an id')
    .addOption(new Option('--id <id>', 'query with the stored vector of this id').conflicts('vector'))
    .addOption(new Option('--vector <file>', 'query vector: a JSON array, or raw float32 (.f32)')),
).action(
  action(async (ctx, json, flags: QueryFlags & { id?: string; vector?: string }) => {
    if (!flags.id && !flags.vector) throw new CliError('USAGE', 'query needs --id ID or --vector FILE');
    const lsh = await ctx.openIndex(flags.rerank || flags.id !== undefined);
    let vector: ArrayLike<number>;
    if (flags.id !== undefined) {
      const id = await parseId(lsh, flags.id);
      const [row] = [...(await (ctx.vectorStore(true) as PostgresVectorStore).fetch([id]))];
      if (!row) throw new LshrsError('NOT_FOUND', `id ${flags.id} has no row in ${ctx.tableInfo.table}`);
      vector = row.vector;
    } else {
      vector = readVectorFile(flags.vector as string);
    }
    printHits(await lsh.query(vector as number[], queryOptionsFrom(flags)), json);
  }),
);

queryOptions(program.command('similar').description('"more like this": the nearest items to an indexed id, itself left out').argument('<id>')).action(
  action(async (ctx, json, raw: string, flags: QueryFlags) => {
    const lsh = await ctx.openIndex(flags.rerank);
    printHits(await lsh.similar(await parseId(lsh, raw), queryOptionsFrom(flags)), json);
  }),
);

program
  .command('stats')
  .description('ids, parameters, buckets and their sizes, Redis memory')
  .action(
    action(async (ctx, json) => {
      const stats = await (await ctx.openIndex()).stats();
      if (json) {
        printJson(stats);
        return;
      }
      const lines = [
        `index        ${stats.prefix}`,
        `table        ${stats.store?.table ? `${stats.store.table} (${[stats.store.idColumn, stats.store.vectorColumn, stats.store.textColumn ?? 'no text'].join(', ')})` : 'not recorded'}`,
        `ids          ${stats.ids} (${stats.idType ?? 'none yet'})`,
        `parameters   dim ${stats.dim}, seed ${stats.seed}, ${stats.bands} bands x ${stats.rows} rows, ${stats.sketchBits}-bit sketches, ` +
          `bucket cap ${stats.bucketCap}, ${stats.mean ? 'centred' : 'not centred'}, ${stats.reversePages} reverse pages`,
        `shards       ${stats.shards}${stats.shards > 1 ? ` (ids per shard ${Math.min(...stats.shardIds)} to ${Math.max(...stats.shardIds)})` : ''}`,
        `buckets      ${stats.buckets}, reverse pages in use ${stats.reversePagesUsed}`,
        `memory       ${bytes(stats.redisBytes)} in Redis${stats.bytesPerId === null ? '' : `, ${stats.bytesPerId.toFixed(1)} bytes per id`}`,
        `build        ${stats.build ? `${stats.build.state}, last id ${stats.build.cursor}${stats.build.skipped ? `, ${stats.build.skipped} rows skipped` : ''}` : 'none'}`,
        ...(stats.giantBuckets.count > 0
          ? [
              `giant        ${stats.giantBuckets.count} buckets are at their cap of ${stats.giantBuckets.over} records, ${stats.giantBuckets.overflowRecords} more ` +
                'wait in their overflow lists: duplicate or near-identical vectors, or a narrow cone. Queries read only the first ' +
                `${stats.giantBuckets.over} of such a bucket, so recall suffers there: remove duplicates, or rebuild with more rows per band (a larger --expected-size)`,
            ]
          : []),
        '',
        'bucket sizes',
        table(
          ['size up to', 'buckets'],
          stats.bucketHistogram.map(([upTo, count]) => [upTo, count]),
        ),
        '',
        'largest buckets',
        stats.shards > 1
          ? table(
              ['shard', 'band', 'value', 'size'],
              stats.largestBuckets.map((b) => [b.shard, b.band, b.value, b.size]),
            )
          : table(
              ['band', 'value', 'size'],
              stats.largestBuckets.map((b) => [b.band, b.value, b.size]),
            ),
        '',
        stats.nodes.length > 1 ? 'masters' : 'server',
        table(
          ['node', 'keys', 'memory'],
          stats.nodes.map((n) => [n.node, n.keys, bytes(n.bytes)]),
        ),
      ];
      print(lines.join('\n'));
    }),
  );

program
  .command('inspect')
  .description("an id's buckets and their sizes")
  .argument('<id>')
  .action(
    action(async (ctx, json, raw: string) => {
      const lsh = await ctx.openIndex();
      const found = await lsh.inspect(await parseId(lsh, raw));
      if (!found) throw new LshrsError('NOT_FOUND', `id ${raw} is not in the index`);
      if (json) {
        printJson(found);
        return;
      }
      print(`id ${String(found.id)}: ordinal ${found.ordinal}, reverse record in ${found.reverseKey}, signature ${found.signature}`);
      print(
        table(
          ['band', 'value', 'bucket', 'records', 'overflow'],
          found.buckets.map((b) => [b.band, b.value, b.key, b.size, b.overflow]),
        ),
      );
    }),
  );

program
  .command('delete')
  .description('remove ids from the index (and their rows from the table)')
  .argument('<ids...>')
  .action(
    action(async (ctx, json, raws: string[]) => {
      const lsh = await ctx.openIndex();
      const ids: Id[] = [];
      for (const raw of raws) ids.push(await parseId(lsh, raw));
      const result = await lsh.delete(ids);
      if (json) printJson(result);
      else print(`removed ${result.removed}, not in the index ${result.unknown}`);
    }),
  );

program
  .command('clear')
  .description("delete every key of the index from Redis (the table's rows stay); asks for --yes")
  .option('--yes', 'really delete the index')
  .action(
    action(async (ctx, json, flags: { yes?: boolean }) => {
      const lsh = await ctx.openIndex();
      const { ids } = await lsh.describe();
      const prefix = ctx.options.prefix;
      if (!flags.yes)
        throw new CliError('USAGE', `clear deletes index "${prefix}" (${ids} ids) from Redis; run ${again(ctx, 'clear --yes')} to do it`);
      const keys = await lsh.clear();
      if (json) printJson({ prefix, cleared: true, ids, keys });
      else print(`cleared index "${prefix}": ${ids} ids, ${keys} keys deleted (the table's rows stay)`);
    }),
  );

program
  .command('verify')
  .description('check that buckets and reverse records agree and every id has a row; exit 1 on findings')
  .option('--repair', 'fix what the check finds')
  .action(
    action(async (ctx, json, flags: { repair?: boolean }) => {
      const report = await (await ctx.openIndex()).verify({ repair: flags.repair === true });
      if (json) printJson(report);
      else {
        const lines = [
          `ids ${report.ids}, buckets ${report.buckets}, id count in meta ${report.metaCount}`,
          `missing from buckets ${report.missingFromBuckets}, stray in buckets ${report.strayInBuckets}`,
          report.missingFromStore === null
            ? 'store rows not checked (no table configured)'
            : `missing from the table ${report.missingFromStore.length}${report.missingFromStore.length ? `: ${report.missingFromStore.join(' ')}` : ''}`,
          ...report.examples.missingFromBuckets.map((e) => `  id ${String(e.id)} missing from ${e.bucket}`),
          ...report.examples.strayInBuckets.map((e) => `  id ${String(e.id)} stray in ${e.bucket}`),
          report.consistent ? 'consistent' : 'INCONSISTENT',
        ];
        if (report.repaired) {
          const r = report.repaired;
          lines.push(
            `repaired: ${r.recordsAdded} bucket records added, ${r.recordsRemoved} removed, ${r.removedMissingFromStore} ids without rows removed, ${r.idsCounted} ids counted`,
          );
        }
        print(lines.join('\n'));
      }
      return report.consistent || report.repaired ? EXIT.ok : EXIT.findings;
    }),
  );

program
  .command('tune')
  .description('candidate (bands, rows) configurations with their error rates, and their S-curves as SVG')
  .option('--num-perm <n>', 'hyperplane budget', '128')
  .option('--threshold <s>', 'cosine threshold', '0.5')
  .option('--size <n>', 'corpus size, for the expected candidates per query')
  .option('--pair-mean <s>', 'mean cosine of random pairs in the corpus', '0.17')
  .option('--pair-sd <s>', 'its standard deviation', '0.14')
  .option('--svg <file>', 'write the S-curves of the best configurations to this SVG file')
  .action(
    action(async (_ctx, json, flags: { numPerm: string; threshold: string; size?: string; pairMean: string; pairSd: string; svg?: string }) => {
      const threshold = optionalNumber(flags.threshold, '--threshold') as number;
      const candidates = tuneCandidates(optionalInt(flags.numPerm, '--num-perm') as number, threshold, optionalInt(flags.size, '--size') ?? null, {
        mean: optionalNumber(flags.pairMean, '--pair-mean'),
        sd: optionalNumber(flags.pairSd, '--pair-sd'),
      });
      if (flags.svg)
        writeFileSync(
          flags.svg,
          sCurveSvg(
            candidates.slice(0, 6).map((c) => ({ ...c, label: c.label === 'option' ? undefined : c.label })),
            threshold,
          ),
        );
      if (json) {
        printJson(candidates);
        return;
      }
      print(
        table(
          ['bands', 'rows', 'false pos', 'false neg', 'random pair', 'candidates/query', ''],
          candidates.map((c) => [
            c.bands,
            c.rows,
            c.falsePositive.toFixed(4),
            c.falseNegative.toFixed(4),
            c.randomPairCollision.toFixed(5),
            c.expectedCandidates === null ? '-' : Math.round(c.expectedCandidates),
            c.label === 'option' ? '' : c.label,
          ]),
        ),
      );
      const size = optionalInt(flags.size, '--size');
      if (size !== undefined && size > 0) {
        const rows = sizedRows(size);
        print(
          `for ${size} ids, --expected-size (expectedSize) plans ${SIZED_BANDS} x ${rows} instead: buckets of ` +
            `${(size / 2 ** rows).toFixed(1)} ids on average, ${defaultProbes(rows, SIZED_BANDS)} probes per band, ` +
            `about ${Math.round((SIZED_BANDS * defaultProbes(rows, SIZED_BANDS) * size) / 2 ** rows).toLocaleString('en-US')} bucket records read per query (see BENCHMARKS.md)`,
        );
      }
      if (flags.svg) print(`S-curves written to ${flags.svg}`);
    }),
  );

// Output piped into `head` and closed early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

// Commander's own exits (help, version, usage errors) come here as CommanderErrors; the command
// named in a usage error's hint is the one that raised it.
let usageOf = 'lshrs';
for (const command of program.commands) {
  command.exitOverride((err) => {
    usageOf = `lshrs ${command.name()}`;
    throw err;
  });
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Help and --version exit 0; `lshrs` alone prints the help and exits 2, like any usage error.
    if (err.exitCode === 0 || err.code === 'commander.help') {
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.error;
      return;
    }
    const message = `${oneLine(err.message.replace(/^error: /, ''))} (see ${usageOf} --help)`;
    process.exitCode = reportError(new CliError('USAGE', message), jsonWanted);
    return;
  }
  process.exitCode = reportError(err, jsonWanted);
});
