import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/**
 * Runs `body` in a fresh Node process that can require `src/…` from the TypeScript sources
 * (scripts/ts-require-hook.js), and returns what it printed as JSON. The niceness of every
 * thread is read from /proc/self/task/<tid>/stat (field 19).
 */
function inChild<T>(body: string): T {
  const script = `
    require(${JSON.stringify(join(ROOT, 'scripts', 'ts-require-hook'))})([
      { prefix: 'src/', dir: ${JSON.stringify(join(ROOT, 'src'))} },
    ]);
    const { readdirSync, readFileSync } = require('node:fs');
    const { setPriority } = require('node:os');
    const { Worker } = require('node:worker_threads');
    const { lowerOwnPriority } = require('src/infra/process/own-priority');
    const niceOf = (path) => Number(readFileSync(path, 'utf8').split(') ')[1].split(' ')[16]);
    const threads = () =>
      readdirSync('/proc/self/task').map((tid) => niceOf('/proc/self/task/' + tid + '/stat'));
    const laterThread = () =>
      new Promise((resolve, reject) => {
        const w = new Worker(
          "require('node:worker_threads').parentPort.postMessage(" +
            "Number(require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8')" +
            ".split(') ')[1].split(' ')[16]))",
          { eval: true },
        );
        w.once('message', (n) => { resolve(n); w.terminate(); });
        w.once('error', reject);
      });
    (async () => { ${body} })().then(
      (out) => process.stdout.write(JSON.stringify(out)),
      (err) => { process.stderr.write(String(err && err.stack)); process.exit(1); },
    );`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as T;
}

const onLinux = process.platform === 'linux' ? describe : describe.skip;

/**
 * README "Processes, roles and scaling out": a process that runs the worker role without the
 * API lowers its own priority (WORKER_NICE). On Linux a niceness is per thread, and Node's
 * threads started before any application code (V8's platform workers do much of the garbage
 * collection) would keep normal priority if only the main thread were lowered.
 */
onLinux('lowerOwnPriority', () => {
  it('lowers every thread of the process, those Node started before it included', () => {
    const out = inChild<{ before: number[]; refused: string | null; after: number[] }>(`
      const before = threads();
      const refused = lowerOwnPriority(10);
      return { before, refused, after: threads() };
    `);
    expect(out.refused).toBeNull();
    // The main thread, V8's platform workers and libuv's: more than one to lower.
    expect(out.before.length).toBeGreaterThan(1);
    expect(out.before.every((n) => n === 0)).toBe(true);
    expect(out.after).toHaveLength(out.before.length);
    expect(out.after.every((n) => n === 10)).toBe(true);
  });

  it('lets threads started afterwards inherit it', () => {
    const out = inChild<{ later: number }>(`
      lowerOwnPriority(10);
      return { later: await laterThread() };
    `);
    expect(out.later).toBe(10);
  });

  it('never raises a priority already lower', () => {
    const out = inChild<{ after: number[] }>(`
      lowerOwnPriority(15);
      lowerOwnPriority(10);
      return { after: threads() };
    `);
    expect(out.after.every((n) => n === 15)).toBe(true);
  });

  it('says why when the system refuses', () => {
    const out = inChild<{ refused: string | null }>(`
      // A refusal (here the thread listing's) is reported, not thrown.
      return { refused: lowerOwnPriority(10, () => { throw Object.assign(new Error('no'), { code: 'EACCES' }); }) };
    `);
    expect(out.refused).toBe('EACCES');
  });
});
