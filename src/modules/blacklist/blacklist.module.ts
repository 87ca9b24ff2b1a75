import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BlacklistEntry } from 'src/modules/blacklist/blacklist-entry.entity';
import { BlacklistController } from 'src/modules/blacklist/blacklist.controller';
import { BlacklistRepository } from 'src/modules/blacklist/blacklist.repository';
import { BlacklistService } from 'src/modules/blacklist/blacklist.service';

/** The suppression list (docs/ARCHITECTURE.md "Suppression"): others use BlacklistService only. */
@Module({
  imports: [TypeOrmModule.forFeature([BlacklistEntry])],
  controllers: [BlacklistController],
  providers: [BlacklistService, BlacklistRepository],
  exports: [BlacklistService],
})
export class BlacklistModule {}
