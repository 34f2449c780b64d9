import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { clientFrom } from '../../cli/client.js';

describe('clientFrom', () => {
  const program = () =>
    new Command('mcpctl')
      .exitOverride()
      .addOption(new Option('--token <token>'))
      .addOption(new Option('--timeout <seconds>').default('30'));

  it('lengthens the default timeout for slow requests, but never one the operator gave', async () => {
    for (const [args, expected] of [
      [[], 200_000],
      [['--timeout', '5'], 5_000],
    ] as const) {
      let timeoutMs = 0;
      const root = program();
      root.command('rotate').action((_opts, cmd: Command) => {
        timeoutMs = clientFrom(cmd, { defaultTimeoutMs: 200_000 }).config.timeoutMs;
      });
      await root.parseAsync(['--token', 't', ...args, 'rotate'], { from: 'user' });
      expect(timeoutMs).toBe(expected);
    }
  });
});
