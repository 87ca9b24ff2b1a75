import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import { DiagnosticsService } from 'src/modules/diagnostics/diagnostics.service';
import { DomainsService } from 'src/modules/domains/domains.service';

export interface DnsRecheckSummary {
  checked: number;
  verified: number;
  /** Domains with a record that broke since the last check (each raised a report and an alert). */
  broke: string[];
}

/**
 * The daily DNS re-check (README "Sending domains"): checks every sending domain and, for each
 * one whose record broke since the last check (pass → fail), opens a critical diagnostic
 * report — visible at GET /api/v1/reports and on the dashboard — and alerts the operators
 * (Telegram/Slack) through it.
 */
@Injectable()
export class DomainsMonitorService {
  private readonly logger = new Logger(DomainsMonitorService.name);

  constructor(
    private readonly domains: DomainsService,
    private readonly diagnostics: DiagnosticsService,
    private readonly config: AppConfig,
  ) {}

  async recheckAll(): Promise<DnsRecheckSummary> {
    const outcomes = await this.domains.checkAll();
    const broke: string[] = [];
    for (const { domain, broke: records } of outcomes) {
      if (records.length === 0) continue;
      broke.push(domain.domain);
      const what = records.map((r) => `${r.check.toUpperCase()}: ${r.message}`);
      await this.diagnostics.upsertOpenReport({
        fingerprint: `domains:dns:${domain.domain}`.slice(0, 128),
        reportType: 'anomaly',
        severity: 'critical',
        summary: `DNS of ${domain.domain} broke: ${what.join('; ')}`.slice(0, 2000),
        anomalies: records.map((r) => ({
          type: 'domain_dns_broken',
          domain: domain.domain,
          record: r.check,
          host: r.host,
          found: r.found,
          expected: r.expected,
          message: r.message,
        })),
        context: {
          domain: domain.domain,
          status: domain.status,
          checked_at: domain.checked_at,
          dashboard: `${this.config.publicUrl}/dashboard/domains`,
        },
        rootCause: `A DNS record of ${domain.domain} changed since the last daily check`,
        recommendedActions: [
          ...records.map((r) => r.fix ?? r.message),
          `Then re-check: POST /api/v1/domains/${domain.domain}/verify`,
        ],
        urgency: 'high',
        shouldPauseSending: false,
      });
    }
    const summary = {
      checked: outcomes.length,
      verified: outcomes.filter((o) => o.domain.verified).length,
      broke,
    };
    this.logger.log(summary, 'sending domains re-checked');
    return summary;
  }
}
