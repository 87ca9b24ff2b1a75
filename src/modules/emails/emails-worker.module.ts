import { Module } from '@nestjs/common';
import { EmailDeliveryProcessor } from 'src/modules/emails/email-delivery.processor';
import { EmailsModule } from 'src/modules/emails/emails.module';

/** Loaded only in processes with the `worker` role. */
@Module({ imports: [EmailsModule], providers: [EmailDeliveryProcessor] })
export class EmailsWorkerModule {}
