// Run in a separate process by the hashing tests: prints the planes' fingerprint for (dim, count, seed).
import { hyperplanes, planesFingerprint } from '../../src/hashing/hyperplanes';

const [dim, count, seed] = process.argv.slice(2);
process.stdout.write(`${planesFingerprint(hyperplanes(Number(dim), Number(count), Number(seed)))}\n`);
