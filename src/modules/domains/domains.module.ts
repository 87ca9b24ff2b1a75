import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DnsModule } from 'src/infra/dns/dns.module';
import { DomainsController } from 'src/modules/domains/domains.controller';
import { DomainsService } from 'src/modules/domains/domains.service';
import { SendingDomain } from 'src/modules/domains/sending-domain.entity';
import { SendingDomainsRepository } from 'src/modules/domains/sending-domains.repository';

/**
 * Sending domains and their DNS checks (README "Sending domains"). The daily re-check runs in
 * DomainsWorkerModule's processor; others use DomainsService only.
 */
@Module({
  imports: [TypeOrmModule.forFeature([SendingDomain]), DnsModule],
  controllers: [DomainsController],
  providers: [DomainsService, SendingDomainsRepository],
  exports: [DomainsService],
})
export class DomainsModule {}
