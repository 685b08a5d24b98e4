import type { Client } from '@temporalio/client';
import type { Db } from '../db/pool';
import type { Config } from '../platform/config';
import type { Logger } from '../platform/logger';

export interface ApiDeps {
  config: Config;
  db: Db;
  temporal: Client;
  logger: Logger;
}
