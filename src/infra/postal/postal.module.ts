import { Module } from '@nestjs/common';
import { PostalClient } from 'src/infra/postal/postal.client';

/**
 * Postal's HTTP API client, one per process (docs/ARCHITECTURE.md "Module map"): the Postal
 * transport sends through it and the Postal event reader fetches stored messages through it,
 * over one keep-alive pool that is closed on shutdown. Import this module; never list
 * PostalClient in a module's own providers (that would open a second pool).
 */
@Module({ providers: [PostalClient], exports: [PostalClient] })
export class PostalModule {}
