import { Global, Module } from '@nestjs/common';
import { PostalEventIngress } from 'src/common/ports/postal-event-ingress';
import { WebhooksModule } from 'src/modules/webhooks/webhooks.module';
import { WebhooksService } from 'src/modules/webhooks/webhooks.service';

/**
 * Binds the PostalEventIngress port (src/common/ports) to the webhooks ingestion path, for the
 * whole application: the sandbox transport in the emails module reaches it through the port,
 * never through WebhooksModule (which imports EmailsModule) — docs/ARCHITECTURE.md.
 */
@Global()
@Module({
  imports: [WebhooksModule],
  providers: [{ provide: PostalEventIngress, useExisting: WebhooksService }],
  exports: [PostalEventIngress],
})
export class WebhooksIngressModule {}
