import { Module } from '@nestjs/common';
import { RateControlController } from 'src/modules/rate-control/rate-control.controller';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';

@Module({
  controllers: [RateControlController],
  providers: [RateControlService],
  exports: [RateControlService],
})
export class RateControlModule {}
