import { Command, CommandRunner, Option } from 'nest-commander';
import type { ApiKeyScope } from 'src/modules/auth/api-key.entity';
import { ApiKeysService } from 'src/modules/auth/api-keys.service';

interface CreateOptions {
  name: string;
  scope: ApiKeyScope;
}

@Command({ name: 'api-keys:create', description: 'Create an API key and print it once' })
export class ApiKeysCreateCommand extends CommandRunner {
  constructor(private readonly keys: ApiKeysService) {
    super();
  }

  async run(_args: string[], options: CreateOptions): Promise<void> {
    const created = await this.keys.create(options.name, options.scope);
    process.stdout.write(
      `Created API key #${created.id} "${created.name}" (scope ${created.scope}). ` +
        'Store it now; it is not shown again:\n' +
        `${created.key}\n`,
    );
  }

  @Option({ flags: '--name <name>', description: 'A label for the key', required: true })
  parseName(value: string): string {
    const name = value.trim();
    if (!name || name.length > 255) throw new Error('--name must be 1 to 255 characters');
    return name;
  }

  @Option({ flags: '--scope <scope>', description: 'full (default) or send', defaultValue: 'full' })
  parseScope(value: string): ApiKeyScope {
    if (value !== 'full' && value !== 'send') throw new Error('--scope must be "full" or "send"');
    return value;
  }
}

@Command({
  name: 'api-keys:list',
  description: 'List API keys (prefix, name, scope, last use; never the key)',
})
export class ApiKeysListCommand extends CommandRunner {
  constructor(private readonly keys: ApiKeysService) {
    super();
  }

  async run(): Promise<void> {
    const rows = await this.keys.list();
    if (rows.length === 0) {
      process.stdout.write('No API keys.\n');
      return;
    }
    const table = rows.map((k) => ({
      id: k.id,
      prefix: `${k.keyPrefix}…`,
      name: k.name,
      scope: k.scope,
      state: k.active ? 'active' : `revoked ${k.revokedAt?.toISOString() ?? ''}`.trim(),
      last_used: k.lastUsedAt ? k.lastUsedAt.toISOString() : 'never',
      created: k.createdAt.toISOString(),
    }));
    const cols = Object.keys(table[0]) as Array<keyof (typeof table)[0]>;
    const width = (c: (typeof cols)[number]): number =>
      Math.max(c.length, ...table.map((r) => String(r[c]).length));
    const line = (cells: string[]): string =>
      cells
        .map((v, i) => v.padEnd(width(cols[i])))
        .join('  ')
        .trimEnd();
    process.stdout.write(
      [line(cols), ...table.map((r) => line(cols.map((c) => String(r[c]))))].join('\n') + '\n',
    );
  }
}

@Command({ name: 'api-keys:revoke', arguments: '<id>', description: 'Revoke an API key by id' })
export class ApiKeysRevokeCommand extends CommandRunner {
  constructor(private readonly keys: ApiKeysService) {
    super();
  }

  async run([id]: string[]): Promise<void> {
    if (!/^\d+$/.test(id ?? '')) throw new Error('id must be a number (see api-keys:list)');
    if (!(await this.keys.revoke(Number(id)))) throw new Error(`No active API key with id ${id}`);
    process.stdout.write(`Revoked API key #${id}.\n`);
  }
}
