// mcpctl: the command-line client of the mcp-host API. `bin.mjs` runs this file; so does `tsx cli/index.ts`.
import { Command, Option } from 'commander';
import { DEFAULT_URL } from './client.js';
import { buildsCommand } from './commands/builds.js';
import { credentialsCommand } from './commands/credentials.js';
import { dbCommand } from './commands/db.js';
import { doctorCommand } from './commands/doctor.js';
import { evaluationsCommand } from './commands/evaluations.js';
import { gatewayCommand } from './commands/gateway.js';
import { governanceCommand } from './commands/governance.js';
import { marketplaceCommand } from './commands/marketplace.js';
import { policyCommand } from './commands/policy.js';
import { promotionsCommand } from './commands/promotions.js';
import { secretsCommand } from './commands/secrets.js';
import { serversCommand } from './commands/servers.js';
import { tokenCommand } from './commands/token.js';
import { usersCommand, whoamiCommand } from './commands/users.js';
import { handleError } from './handle-error.js';

function buildProgram(): Command {
  const program = new Command('mcpctl')
    .description('manage MCP servers hosted by mcp-host')
    .addOption(new Option('--url <url>', 'API base URL').env('MCPCTL_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'API token').env('MCPCTL_TOKEN'))
    .addOption(
      new Option(
        '--timeout <seconds>',
        'give up on a request (or on watch --until, or on a build run that does not open) after this long',
      ).default('30'),
    );

  program.addCommand(serversCommand());
  program.addCommand(secretsCommand());
  program.addCommand(buildsCommand());
  program.addCommand(credentialsCommand());
  program.addCommand(usersCommand());
  program.addCommand(whoamiCommand());
  program.addCommand(tokenCommand());
  program.addCommand(marketplaceCommand());
  program.addCommand(policyCommand());
  program.addCommand(evaluationsCommand());
  program.addCommand(governanceCommand());
  program.addCommand(promotionsCommand());
  program.addCommand(gatewayCommand());
  program.addCommand(doctorCommand());
  program.addCommand(dbCommand());
  return program;
}

await buildProgram().parseAsync(process.argv).catch(handleError);
