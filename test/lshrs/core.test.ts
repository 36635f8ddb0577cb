import { newRedis, redisUrl } from '../support/servers';
import { coreSuite } from './core-suite';

coreSuite({ connect: newRedis, url: redisUrl });
