import { loadConfig } from 'src/config/app-config';

const base = {
  NODE_ENV: 'test',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
};

/** Postal's `default_suppression_list_automatic_removal_days` (lib/postal/config_schema.rb: 30). */
describe('POSTAL_SUPPRESSION_DAYS', () => {
  it('defaults to Postal’s 30 days and takes a configured value', () => {
    expect(loadConfig({ ...base }).postal.suppressionDays).toBe(30);
    expect(loadConfig({ ...base, POSTAL_SUPPRESSION_DAYS: '7' }).postal.suppressionDays).toBe(7);
  });

  it('refuses a value that is not a whole number of days from 1 to 3650', () => {
    for (const v of ['0', '-1', 'abc', '1.5', '4000']) {
      expect(() => loadConfig({ ...base, POSTAL_SUPPRESSION_DAYS: v })).toThrow(
        /POSTAL_SUPPRESSION_DAYS/,
      );
    }
  });
});
