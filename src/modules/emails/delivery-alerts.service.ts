import { Injectable, Logger } from '@nestjs/common';
import { RedisService } from 'src/infra/redis/redis.service';
import { NotificationsService } from 'src/modules/notifications/notifications.service';
import { TransportError } from 'src/modules/emails/transport/mail-transport';

const CREDENTIAL_ALERT_EVERY_S = 15 * 60;

/**
 * Operator-facing signals from the delivery pipeline. Postal credential errors raise one
 * critical alert per 15 minutes across all workers (README "How mail flows", 3).
 */
@Injectable()
export class DeliveryAlertsService {
  private readonly logger = new Logger(DeliveryAlertsService.name);

  constructor(
    private readonly redis: RedisService,
    private readonly notifications: NotificationsService,
  ) {}

  async credentialError(err: TransportError): Promise<boolean> {
    const first = await this.redis.client
      .set(
        this.redis.key('alert', 'postal-credentials', err.code),
        '1',
        'EX',
        CREDENTIAL_ALERT_EVERY_S,
        'NX',
      )
      .catch(() => 'OK');
    if (first !== 'OK') return false;
    this.logger.error(
      { alert: 'postal_credentials', severity: 'critical', code: err.code },
      `CRITICAL: Postal rejected our credentials (${err.message}). Sending is retrying; fix POSTAL_API_KEY or the Postal server.`,
    );
    const window = Math.floor(Date.now() / (CREDENTIAL_ALERT_EVERY_S * 1000));
    await this.notifications.alert({
      key: `postal-credentials:${err.code}:${window}`,
      severity: 'critical',
      title: `Postal rejected our credentials (${err.code})`,
      text: `${err.message}\nSending is retrying with backoff. Fix POSTAL_API_KEY or the Postal server (suspended?).`,
    });
    return true;
  }
}
