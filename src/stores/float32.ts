/** Moved to src/float32.ts; kept so that imports of the old path still resolve. */
export { float32FromLE, float32ToLE } from '../float32';
