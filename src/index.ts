export { LSHRS } from './lshrs';
export { defaultProbes, MAX_PROBES, MAX_RERANK, MAX_TOP_K } from './options';
export type {
  LSHRSOptions,
  IndexItem,
  IndexOptions,
  QueryOptions,
  IndexResult,
  DeleteResult,
  IndexStats,
  SavedState,
  RuntimeOptions,
} from './options';
export type { BuildProgress, StoreInfo } from './options';
export type { InspectResult, IndexDescription } from './options';
export type { VerifyReport } from './redis/verify';
export type { BucketSize } from './redis/ops';
export type { Hit } from './query/rerank';
export { TRACE_CHANNELS } from './tracing';
export type { QueryTrace, QueryPhases, FilterTrace, IndexTrace, IndexPhases, DeleteTrace } from './tracing';
export { FILTER_MAX_CANDIDATES, FILTER_MAX_PROBES, FILTER_PROBE_EXPONENT } from './query/search';
export type { Filter, FieldCondition, FilterValue, SqlCondition } from './stores/filter';
export { LshrsError } from './errors';
export type { LshrsErrorCode } from './errors';
export type { Id, IdType } from './ids';
export type { VectorLike } from './vectors';
export { PostgresVectorStore } from './stores/postgres';
export type { PostgresVectorStoreOptions } from './stores/postgres';
export { RedisVectorStore } from './stores/redis';
export type { RedisVectorStoreOptions } from './stores/redis';
export type { VectorStore, StoredItem, StoreWrite, FetchVectors, MatchRequest, MatchEstimate } from './stores/types';
export {
  optimalParams,
  sqrtParams,
  sCurve,
  collisionProbability,
  falsePositiveRate,
  falseNegativeRate,
  MAX_ROWS_PER_BAND,
} from './params/scurve';
export type { BandParams, OptimalParamsOptions } from './params/scurve';
export { hyperplanes, planesFingerprint } from './hashing/hyperplanes';
export { bandValues } from './hashing/signatures';
export { probeSequence, projections } from './hashing/probes';
export { sizedRows, sizedReversePages, SIZED_BANDS } from './params/shape';
export type { Probe } from './hashing/probes';
export { readParquet, countParquetRows } from './parquet/read';
export { tuneCandidates, randomPairCollision } from './params/tune';
export type { TuneCandidate, PairModel } from './params/tune';
export type { ParquetColumns } from './parquet/read';
