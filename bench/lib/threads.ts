import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

const REGISTER = join(__dirname, '..', '..', 'scripts', 'register-paths.js');

/** Starts a worker thread running a TypeScript file of the bench (compiled on load). */
export function startTsThread(file: string, workerData: unknown): Worker {
  const code = `require(${JSON.stringify(REGISTER)});require(${JSON.stringify(file)});`;
  return new Worker(code, { eval: true, workerData });
}
