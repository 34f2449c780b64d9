// Merges every area's activities. Only worker/main.ts builds the real dependencies.
import type { Sql } from '../lib/db.js';
import { createServerDbActivities } from './db/servers.js';

export interface ActivityDeps {
  sql: Sql;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createServerDbActivities(deps.sql),
  };
}

export type Activities = ReturnType<typeof createActivities>;
