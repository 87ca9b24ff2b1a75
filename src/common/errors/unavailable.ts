/**
 * True for errors that mean PostgreSQL or Redis cannot be reached right now (as opposed to a
 * bug): the API answers 503 service_unavailable for these instead of 500.
 */
export function isUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)
    )
      return true;
    // PostgreSQL: connection exceptions (08xxx), admin shutdown / cannot connect now (57Pxx).
    if (/^(08|57P)/.test(code)) return true;
  }
  const name = err.name;
  if (name === 'MaxRetriesPerRequestError' || name === 'ServiceUnavailableError') return true;
  const msg = err.message;
  return (
    /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connect ECONNREFUSED|Connection is closed|Stream isn't writeable/i.test(
      msg,
    ) ||
    (err.cause instanceof Error && isUnavailableError(err.cause))
  );
}
