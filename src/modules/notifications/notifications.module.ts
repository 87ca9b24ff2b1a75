import { Module } from '@nestjs/common';
import { NotificationsService } from 'src/modules/notifications/notifications.service';
import { SlackNotifier } from 'src/modules/notifications/slack.notifier';
import { TelegramNotifier } from 'src/modules/notifications/telegram.notifier';

/** Operator alerts (README "Alerts"): modules inject NotificationsService and call `alert()`. */
@Module({
  providers: [NotificationsService, TelegramNotifier, SlackNotifier],
  exports: [NotificationsService],
})
export class NotificationsModule {}
