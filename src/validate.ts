import { LshrsError } from './errors';

/** The one integer check of every option: an integer in [min, max], else BAD_OPTION naming it. */
export function intOption(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new LshrsError('BAD_OPTION', `${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}
