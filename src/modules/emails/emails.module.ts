import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EmailEvent } from 'src/modules/emails/email-event.entity';
import { EmailLog } from 'src/modules/emails/email-log.entity';
import { EmailLogRepository } from 'src/modules/emails/email-log.repository';
import { EmailsController } from 'src/modules/emails/emails.controller';
import { EmailsService } from 'src/modules/emails/emails.service';

@Module({
  imports: [TypeOrmModule.forFeature([EmailLog, EmailEvent])],
  controllers: [EmailsController],
  providers: [EmailsService, EmailLogRepository],
  exports: [EmailsService],
})
export class EmailsModule {}
