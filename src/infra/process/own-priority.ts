import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The system's code of a failed os.getPriority/setPriority (`ESRCH`, `EACCES`, …). */
function errorCode(err: unknown): string {
  const e = err as { info?: { code?: string }; code?: string };
  return e.info?.code ?? e.code ?? String(err);
}

/** This process's threads by id (Linux: /proc/self/task); empty where there is no such list. */
function ownThreadIds(): number[] {
  try {
    return readdirSync('/proc/self/task')
      .map(Number)
      .filter((tid) => Number.isInteger(tid) && tid > 0);
  } catch {
    return [];
  }
}

/**
 * Lowers this process's CPU priority to niceness `nice` (README "Processes, roles and scaling
 * out"), never raising it: a thread already nicer keeps its value.
 *
 * On Linux a niceness belongs to a thread, and the threads Node starts before any application
 * code runs — V8's platform workers, which do much of the garbage collection, and libuv's pool
 * — keep the one they were born with; so every thread listed in /proc/self/task is lowered, and
 * threads started later (template workers) inherit the main thread's. Elsewhere the process's
 * priority is set. Returns null, or the error code when the system refuses.
 */
export function lowerOwnPriority(
  nice: number,
  threadIds: () => number[] = ownThreadIds,
): string | null {
  try {
    const tids = threadIds();
    if (tids.length === 0) {
      if (getPriority() < nice) setPriority(nice);
      return null;
    }
    for (const tid of tids) {
      try {
        if (getPriority(tid) < nice) setPriority(tid, nice);
      } catch (err) {
        // A thread that ended since the listing: nothing to lower.
        if (errorCode(err) !== 'ESRCH') throw err;
      }
    }
    return null;
  } catch (err) {
    return errorCode(err);
  }
}
