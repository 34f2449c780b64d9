// mcpctl db migrate: applies pending migrations to DATABASE_URL (the API also does this at boot).
import { Command } from 'commander';
import { createSql } from '../../lib/db.js';
import { loadEnv } from '../../lib/env.js';
import { migrate } from '../../lib/migrate.js';

export function dbCommand(): Command {
  const db = new Command('db').description('database maintenance (uses DATABASE_URL, not the API)');
  db.command('migrate')
    .description('apply pending migrations, each once, in order')
    .action(async () => {
      const env = loadEnv();
      const sql = createSql(env.DATABASE_URL, { max: 2, applicationName: 'mcpctl' });
      try {
        const { applied, current } = await migrate(sql);
        process.stdout.write(
          applied.length
            ? `applied ${applied.join(', ')}; now at version ${current}\n`
            : `up to date at version ${current}\n`,
        );
      } finally {
        await sql.end({ timeout: 5 });
      }
    });
  return db;
}
