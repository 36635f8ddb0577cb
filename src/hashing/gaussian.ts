import seedrandom from 'seedrandom';

/*
 * Gaussian draws that every process computes bit for bit alike. Box-Muller needs a logarithm and
 * a cosine, and ECMAScript lets engines approximate Math.log/Math.cos differently across
 * versions; a Node upgrade must not silently move an index's hyperplanes. So both are computed
 * here from + - * / only (correctly rounded in IEEE 754, and JavaScript never fuses them), with a
 * fixed number of terms. Accuracy is ~1e-16, far below what SimHash needs.
 */

const LN2 = 0.6931471805599453;
const HALF_PI = 1.5707963267948966;
const SQRT_HALF = 0.7071067811865476;

const scratch = new DataView(new ArrayBuffer(8));

/** Natural logarithm of a positive, finite, normal double. */
export function portableLog(x: number): number {
  scratch.setFloat64(0, x);
  const hi = scratch.getUint32(0);
  let exponent = ((hi >>> 20) & 0x7ff) - 1023;
  // Mantissa in [1, 2): same bits with the exponent field set to 1023.
  scratch.setUint32(0, (hi & 0x800fffff) | (1023 << 20));
  let m = scratch.getFloat64(0);
  if (m > 2 * SQRT_HALF) {
    m /= 2;
    exponent += 1;
  }
  // log(m) = 2 atanh(f), f = (m - 1) / (m + 1), |f| <= 0.172: 14 odd terms reach 1e-17.
  const f = (m - 1) / (m + 1);
  const f2 = f * f;
  let term = f;
  let sum = 0;
  for (let k = 1; k <= 27; k += 2) {
    sum += term / k;
    term *= f2;
  }
  return exponent * LN2 + 2 * sum;
}

/** cos(theta) and sin(theta) for theta in [0, pi/2], by Taylor series with fixed terms. */
function cosSinQuarter(theta: number): [number, number] {
  const t2 = theta * theta;
  let c = 1;
  let s = theta;
  let cTerm = 1;
  let sTerm = theta;
  for (let k = 1; k <= 13; k++) {
    cTerm *= -t2 / ((2 * k - 1) * (2 * k));
    sTerm *= -t2 / (2 * k * (2 * k + 1));
    c += cTerm;
    s += sTerm;
  }
  return [c, s];
}

/** cos(2 pi u) for u in [0, 1), reduced to a quarter turn exactly (u * 4 is exact). */
export function portableCosTurn(u: number): number {
  const quarters = u * 4;
  const q = Math.floor(quarters);
  const [c, s] = cosSinQuarter((quarters - q) * HALF_PI);
  switch (q & 3) {
    case 0:
      return c;
    case 1:
      return -s;
    case 2:
      return -c;
    default:
      return s;
  }
}

/** A stream of standard normal draws from `seedrandom(seed)`. */
export function gaussianStream(seed: number | string): () => number {
  const rng = seedrandom(String(seed));
  return () => {
    const u1 = 1 - rng(); // (0, 1]: the logarithm stays finite
    const u2 = rng();
    return Math.sqrt(-2 * portableLog(u1)) * portableCosTurn(u2);
  };
}
