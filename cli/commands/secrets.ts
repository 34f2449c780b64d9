// mcpctl secrets: set (the value from stdin or a file, never from an argument, which would land in
// shell history and the process list), list, rm, and rekey and codec-key rotate (admins).
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { CreateSecretBody, SecretName, type Secret, type UpdatedSecret } from '../../lib/schemas/secrets.js';
import { clientFrom } from '../client.js';
import { ApiHttpError, CliError } from '../handle-error.js';
import { show, withJson, type Cell } from '../output.js';
import { checkBody, checkOption } from '../validate.js';

const secretTable = (secrets: Secret[]): [string[], Cell[][]] => [
  ['name', 'owner', 'version', 'updated', 'used by'],
  secrets.map((s) => [
    s.name,
    s.owner_id,
    s.version,
    s.updated_at,
    s.used_by.map((u) => `${u.name} (${u.id})`).join(', ') || '-',
  ]),
];

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new CliError('give the value on stdin (e.g. `printf %s "$TOKEN" | mcpctl secrets set NAME`) or --from-file');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // `echo value |` adds a newline that is not part of the value: one is dropped (a file is taken as it is).
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export function secretsCommand(): Command {
  const secrets = new Command('secrets').description(
    'secrets your servers reference in config as {"secret": "NAME"} (values are encrypted and never shown)',
  );

  withJson(
    secrets
      .command('set')
      .description('create a secret, or store a new version of it; the value comes from stdin or --from-file')
      .argument('<name>', 'the secret name'),
  )
    .option('--from-file <path>', 'read the value from this file (as it is, newlines included)')
    .action(async (name: string, opts: { fromFile?: string; json?: boolean }, cmd: Command) => {
      checkOption('NAME', SecretName, name);
      const value = opts.fromFile ? await readFile(opts.fromFile, 'utf8') : await readStdin();
      checkBody(CreateSecretBody, { name, value }, { name: 'NAME', value: 'the value' });
      const client = clientFrom(cmd);
      let secret: Secret | UpdatedSecret;
      try {
        secret = await client.post<Secret>('/api/secrets', { name, value });
      } catch (err) {
        if (!(err instanceof ApiHttpError) || err.code !== 'secret_exists') throw err;
        secret = await client.put<UpdatedSecret>(`/api/secrets/${name}`, { value });
      }
      show(opts.json, secret, (s) => secretTable([s]));
      if (!opts.json && 'redeployed' in secret && secret.redeployed.length > 0) {
        console.log(`redeployed: ${secret.redeployed.map((u) => `${u.name} (${u.id})`).join(', ')}`);
      }
    });

  withJson(secrets.command('list').description('list secrets: names, versions, the servers that use each')).action(
    async (opts: { json?: boolean }, cmd: Command) => {
      show(opts.json, await clientFrom(cmd).get<Secret[]>('/api/secrets'), secretTable);
    },
  );

  secrets
    .command('rm')
    .description('delete a secret and every version (refused while a server references it)')
    .argument('<name>', 'the secret name')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      checkOption('NAME', SecretName, name);
      await clientFrom(cmd).delete(`/api/secrets/${name}`);
      process.stdout.write(`deleted secret ${name}\n`);
    });

  withJson(
    secrets
      .command('rekey')
      .description(
        're-wrap every data key with SECRETS_KEY_NEXT (admins; configure it on the API and worker first); servers keep running',
      ),
  ).action(async (opts: { json?: boolean }, cmd: Command) => {
    const result = await clientFrom(cmd).post<{ key_id: string; rewrapped: number; already: number }>(
      '/api/secrets/rekey',
    );
    show(opts.json, result, (r) => [['key id', 'rewrapped', 'already'], [[r.key_id, r.rewrapped, r.already]]]);
  });

  const codecKey = secrets.command('codec-key').description("the Temporal payload codec's keys (admins)");
  withJson(
    codecKey
      .command('rotate')
      .description(
        'add a new random payload codec key: running APIs and workers seal new payloads with it at once; every older key still opens its histories',
      ),
  ).action(async (opts: { json?: boolean }, cmd: Command) => {
    const added = await clientFrom(cmd).post<{ codec_key_id: string; key_id: string; keys: number }>(
      '/api/secrets/codec-keys',
    );
    show(opts.json, added, (a) => [['codec key id', 'wrapped by', 'keys'], [[a.codec_key_id, a.key_id, a.keys]]]);
  });

  return secrets;
}
