/**
 * Module boundaries (docs/ARCHITECTURE.md "Module map"): a feature module exports only its
 * module class, its service(s), its DTOs and a few pure helpers; other modules never reach
 * into its entities, repositories, processors or controllers. Run by `npm run lint`:
 *   npx depcruise src --config .dependency-cruiser.js
 */

/**
 * What one feature module may import from another one (paths relative to the repo root).
 * `\k<target>` back-references the target module's folder name, so only `<b>/<b>.module.ts`
 * (named, because dependency-cruiser joins these patterns into one regex with `|`).
 */
const CROSS_MODULE_ALLOWED = [
  '^src/modules/(?<target>[^/]+)/\\k<target>\\.module\\.ts$',
  '^src/modules/[^/]+/.*\\.service\\.ts$',
  '^src/modules/[^/]+/dto/',
  // Pure helpers (no I/O, no entities) that other modules may share.
  '^src/modules/[^/]+/anomaly-rules\\.ts$',
  // The one definition of "suppressed" (hash + SQL fragments), used by accept and the claim.
  '^src/modules/blacklist/suppression\\.ts$',
];

/** Files nothing imports on purpose: entry points, the TypeORM CLI data source, tests, migrations. */
const ORPHANS_ALLOWED = [
  '(^|/)\\.[^/]+\\.(js|cjs|mjs|ts|json)$',
  '\\.d\\.(c|m)?ts$',
  '\\.spec\\.ts$',
  '^test/',
  '^migrations/',
  '^src/main\\.ts$',
  '^src/cli/main\\.ts$',
  '^src/data-source\\.ts$',
];

module.exports = {
  forbidden: [
    {
      name: 'no-cross-module-internals',
      comment:
        'A feature module may use another module only through its <name>.module.ts, its ' +
        '*.service.ts, its dto/ and the allowed pure helpers; never its entities, ' +
        'repositories, processors or controllers. Ask that module for a service method instead.',
      severity: 'error',
      from: { path: '^src/modules/([^/]+)/' },
      to: {
        path: '^src/modules/[^/]+/',
        pathNot: ['^src/modules/$1/', ...CROSS_MODULE_ALLOWED],
      },
    },
    {
      name: 'emails-not-to-webhooks',
      comment:
        'The emails module owns the message lifecycle and must not depend on the webhooks ' +
        'module (which imports it): a transport reaches the ingestion path through the ' +
        'PostalEventIngress port in src/common/ports (docs/ARCHITECTURE.md).',
      severity: 'error',
      from: { path: '^src/modules/emails/' },
      to: { path: '^src/modules/webhooks/' },
    },
    {
      name: 'webhooks-no-interpretation',
      comment:
        'The webhooks module verifies, stores, queues and hands over; what a Postal event or a ' +
        'feedback report means lives in src/modules/emails/lifecycle/postal/ and is reached ' +
        'only through its services (docs/ARCHITECTURE.md "Postal events").',
      severity: 'error',
      from: { path: '^src/modules/webhooks/' },
      to: {
        path: '^src/modules/emails/lifecycle/postal/',
        pathNot: '^src/modules/emails/lifecycle/postal/[^/]+\\.service\\.ts$',
      },
    },
    {
      name: 'lifecycle-writers-only',
      comment:
        'Only the message lifecycle changes a status: the repositories that issue status ' +
        'UPDATEs (emails/lifecycle/*transitions.repository.ts) are used by the lifecycle ' +
        'folder and the services that own a lifecycle step — delivery, state, outbox, ' +
        'retries, cancel — never by another file (docs/ARCHITECTURE.md "Message lifecycle"). ' +
        '`import type` (a row shape) is allowed.',
      severity: 'error',
      from: {
        path: '^src/',
        pathNot: [
          '^src/modules/emails/lifecycle/',
          '^src/modules/emails/emails\\.module\\.ts$',
          '^src/modules/emails/(delivery|email-state|outbox|retry|cancel)\\.service\\.ts$',
        ],
      },
      to: {
        path: '^src/modules/emails/lifecycle/[^/]*transitions\\.repository\\.ts$',
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'no-circular',
      comment:
        'Runtime import cycle. Cycles broken by an `import type` edge are ignored: they ' +
        'vanish at compile time.',
      severity: 'error',
      from: {},
      to: {
        circular: true,
        viaOnly: { dependencyTypesNot: ['type-only'] },
      },
    },
    {
      name: 'infra-not-depend-on-modules',
      comment:
        'config/, common/ and infra/ sit below the feature modules and must not import them ' +
        '(`import type` is allowed).',
      severity: 'error',
      from: { path: '^src/(infra|common|config)/' },
      to: { path: '^src/modules/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-orphans',
      comment: 'Nothing imports this module: use it or delete it.',
      severity: 'warn',
      from: { orphan: true, pathNot: ORPHANS_ALLOWED },
      to: {},
    },
    {
      name: 'not-to-test',
      comment: 'Production code must not import test code.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-dev-dep',
      comment:
        'Production code must not import a devDependency: `npm ci --omit=dev` in the ' +
        'Docker image would leave it out. Move it to dependencies or drop the import.',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.spec\\.ts$' },
      to: {
        dependencyTypes: ['npm-dev'],
        // Type-only imports and @types/* disappear at compile time.
        dependencyTypesNot: ['type-only'],
        pathNot: ['node_modules/@types/'],
      },
    },
  ],
  options: {
    // test/ is "do not follow" rather than excluded: excluded files vanish from the graph,
    // and then `not-to-test` could never see a src → test import.
    doNotFollow: { path: ['node_modules', '^test/'] },
    exclude: { path: '^(dist|bench)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    // See `import type` edges (and mark them `type-only`) instead of dropping them.
    tsPreCompilationDeps: true,
    // The app is CommonJS: resolve packages the way `require` does.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
