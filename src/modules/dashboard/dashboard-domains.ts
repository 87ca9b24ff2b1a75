import { Injectable, Logger } from '@nestjs/common';
import type { PageBase } from 'src/modules/dashboard/dashboard.service';
import { DoctorService } from 'src/modules/doctor/doctor.service';
import { DomainsService } from 'src/modules/domains/domains.service';
import { EmailsService } from 'src/modules/emails/emails.service';

/** The window of the compliance figures (complaint rate, unsubscribe on broadcast mail). */
export const COMPLIANCE_WINDOW_DAYS = 7;

/** Badge colour of a check status, from the dashboard's status palette. */
const STATUS_CLS: Record<string, string> = {
  pass: 'st-delivered',
  warn: 'st-delayed',
  fail: 'st-failed',
  skip: 'st-other',
};
const cls = (status: string): string => STATUS_CLS[status] ?? 'st-other';

/**
 * The Sending domains page (README "Dashboard"): each domain's DNS checks with the record to
 * publish, and its bulk-sender compliance; and the Set-up page: the doctor's report, the same
 * checks as `npm run cli -- doctor` (one DoctorService).
 */
@Injectable()
export class DashboardDomainsPages {
  private readonly logger = new Logger(DashboardDomainsPages.name);

  constructor(
    private readonly domains: DomainsService,
    private readonly emails: EmailsService,
    private readonly doctor: DoctorService,
  ) {}

  async domainsPage(base: PageBase) {
    const domains = await this.domains.all();
    const stats = await this.emails.senderDomainStats(
      domains.map((d) => d.domain),
      COMPLIANCE_WINDOW_DAYS,
    );
    return {
      ...base,
      empty: domains.length === 0,
      windowDays: COMPLIANCE_WINDOW_DAYS,
      domains: domains.map((d) => {
        const s = stats.get(d.domain)!;
        return {
          domain: d.domain,
          status: d.status,
          statusCls: cls(d.verified ? 'pass' : d.status === 'failing' ? 'fail' : 'warn'),
          checkedAt: d.checked_at ?? 'never',
          compliance: this.domains
            .compliance(d, { ...s, windowDays: COMPLIANCE_WINDOW_DAYS })
            .map((c) => ({ ...c, statusCls: cls(c.status), fix: c.fix ?? '' })),
          checks: d.checks.map((c) => ({
            check: c.check.replace('_', ' ').toUpperCase(),
            status: c.status,
            statusCls: cls(c.status),
            host: c.host,
            type: c.type,
            found: c.found.length ? c.found.join('\n') : '—',
            expected: c.expected ?? '—',
            message: c.message,
            fix: c.fix ?? '',
          })),
        };
      }),
    };
  }

  async setupPage(base: PageBase) {
    const report = await this.doctor.run();
    this.logger.debug({ counts: report.counts }, 'set-up checked');
    return {
      ...base,
      ok: report.ok,
      counts: report.counts,
      generatedAt: report.generated_at,
      checks: report.checks.map((c) => ({
        ...c,
        statusCls: cls(c.status),
        label: c.status.toUpperCase(),
        fix: c.fix ?? '',
      })),
    };
  }
}
