import { Module } from '@nestjs/common';
import { PostalClient } from 'src/infra/postal/postal.client';
import { PostalJwksClient } from 'src/infra/postal/postal-signing-keys';

/**
 * Postal's HTTP API client, one per process (docs/ARCHITECTURE.md "Module map"): the Postal
 * transport sends through it and the Postal event reader fetches stored messages through it,
 * over one keep-alive pool that is closed on shutdown. Import this module; never list
 * PostalClient in a module's own providers (that would open a second pool). PostalJwksClient
 * (Postal's webhook signing keys, cached) is provided here too, once per process.
 */
@Module({ providers: [PostalClient, PostalJwksClient], exports: [PostalClient, PostalJwksClient] })
export class PostalModule {}
