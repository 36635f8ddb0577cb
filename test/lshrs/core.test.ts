import { newRedis, redisUrl } from '../support/servers';
import { coreSuite } from './core-suite';

describe.each([1, 16])('one Redis, indexes of %i shard(s)', (shards) => {
  coreSuite({ connect: newRedis, url: redisUrl }, shards);
});
