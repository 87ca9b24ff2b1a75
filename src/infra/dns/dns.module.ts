import { Module } from '@nestjs/common';
import { DnsClient } from 'src/infra/dns/dns.client';

/** DNS lookups on the configured resolvers (DNS_SERVERS); one Resolver per process. */
@Module({ providers: [DnsClient], exports: [DnsClient] })
export class DnsModule {}
