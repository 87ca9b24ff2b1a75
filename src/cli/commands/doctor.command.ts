import { Command, CommandRunner, Option } from 'nest-commander';
import { DoctorCheck, DoctorReport, DoctorService } from 'src/modules/doctor/doctor.service';

interface DoctorOptions {
  json?: boolean;
}

const LABEL: Record<DoctorCheck['status'], string> = {
  pass: 'PASS',
  warn: 'WARN',
  fail: 'FAIL',
  skip: 'SKIP',
};

/** The report as text: one line per check, its fix on the same line. */
export function formatDoctorReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map(
    (c) =>
      `${LABEL[c.status]}  ${c.name.padEnd(width)}  ${c.message}${c.fix ? ` — fix: ${c.fix}` : ''}`,
  );
  const { pass, warn, fail, skip } = report.counts;
  lines.push(
    '',
    `${fail} failed, ${warn} warning(s), ${pass} passed, ${skip} not applicable — ${report.ok ? 'all good' : 'not ready'}`,
  );
  return `${lines.join('\n')}\n`;
}

@Command({
  name: 'doctor',
  description:
    'Check the set-up (PostgreSQL, Redis, Postal, webhook key, inbound route, PUBLIC_URL, secrets, domain DNS, production settings); exit 0 only when all pass',
})
export class DoctorCommand extends CommandRunner {
  constructor(private readonly doctor: DoctorService) {
    super();
  }

  async run(_args: string[], options: DoctorOptions): Promise<void> {
    const report = await this.doctor.run();
    process.stdout.write(
      options.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report),
    );
    process.exitCode = report.ok ? 0 : 1;
  }

  @Option({ flags: '--json', description: 'Print the report as JSON' })
  parseJson(): boolean {
    return true;
  }
}
