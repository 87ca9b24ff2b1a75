import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { BareServerConfig } from 'bench/lib/bare-server';

const REGISTER = join(__dirname, '..', '..', 'scripts', 'register-paths.js');

/** A bare server (bench/lib/bare-server.ts) running in a child process of its own. */
export class BareServer {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(config: BareServerConfig): Promise<BareServer> {
    const child = fork(join(__dirname, 'bare-server.ts'), [], {
      execArgv: ['-r', REGISTER],
      env: { PATH: process.env.PATH ?? '', BARE_SERVER_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (msg: { port: number }) => resolve(msg.port));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
    });
    return new BareServer(`http://127.0.0.1:${port}`, child);
  }

  /** Asks it to close its server, pool and queue; SIGKILL if it has not exited after `ms`. */
  async stop(ms = 10_000): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send('stop');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(killer);
  }
}
