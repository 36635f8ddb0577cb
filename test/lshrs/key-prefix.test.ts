import { Redis } from 'ioredis';
import { redisUrl } from '../support/servers';
import { keyPrefixSuite } from './key-prefix-suite';

describe.each([1, 16])('one Redis, a client with keyPrefix, indexes of %i shard(s)', (shards) => {
  keyPrefixSuite({ connect: (keyPrefix) => new Redis(redisUrl(), { maxRetriesPerRequest: 1, keyPrefix }) }, shards);
});
