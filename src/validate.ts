import { LshrsError } from './errors';

/** The one integer check of every option: an integer in [min, max], else BAD_OPTION naming it. */
export function intOption(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new LshrsError('BAD_OPTION', `${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Every key of `T`, listed once: a name missing from the object literal, or one too many, fails the type check. */
export function optionNames<T>(names: { [K in keyof Required<T>]: true }): readonly string[] {
  return Object.keys(names);
}

/**
 * Refuses an option name lshrs does not know, which it would otherwise ignore silently (a
 * misspelt `topk` from JavaScript): BAD_OPTION naming it, and the known name it most resembles.
 */
export function checkOptionNames(options: object, known: readonly string[], what: string): void {
  if (typeof options !== 'object' || options === null)
    throw new LshrsError('BAD_OPTION', `${what} options must be an object, got ${String(options)}`);
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const near = closestName(name, known);
    throw new LshrsError('BAD_OPTION', `unknown ${what} option "${name}"${near ? ` (did you mean ${near}?)` : ''}`);
  }
}

/** The known name nearest to `name`, ignoring case, `_` and `-`, if it is near enough to be a typo. */
function closestName(name: string, known: readonly string[]): string | undefined {
  const plain = (text: string) => text.toLowerCase().replace(/[-_]/g, '');
  const typed = plain(name);
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.floor(typed.length / 3));
  for (const candidate of known) {
    const distance = editDistance(typed, plain(candidate));
    if (distance <= bestDistance && (best === undefined || distance < bestDistance)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
