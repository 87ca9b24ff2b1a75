/**
 * How deeply a request's JSON may nest (README "API overview"). The parsers take any depth,
 * but class-transformer, class-validator and the idempotency hash walk a body recursively, so a
 * body nested thousands deep overflowed the stack (a 500). 32 levels leave template variables
 * room for any real data structure.
 */
export const MAX_JSON_DEPTH = 32;

function isContainer(value: unknown): value is object {
  return value !== null && typeof value === 'object';
}

/**
 * The path (`variables.a.b`, `recipients.0.variables…`) of the first array or object nested
 * deeper than `maxDepth` (the body itself is level 1), or null. Iterative, so it cannot overflow
 * the stack it protects; each value is visited at most once.
 */
export function findTooDeep(value: unknown, maxDepth = MAX_JSON_DEPTH): string | null {
  if (!isContainer(value)) return null;
  const pending: Array<[object, string, number]> = [[value, '', 1]];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const [node, path, depth] = item;
    if (depth > maxDepth) return path || 'body';
    for (const key of Object.keys(node)) {
      const child = (node as Record<string, unknown>)[key];
      if (isContainer(child)) pending.push([child, path ? `${path}.${key}` : key, depth + 1]);
    }
  }
  return null;
}
