import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule } from '@bull-board/nestjs';
import { Module } from '@nestjs/common';
import { basicAuthMiddleware } from 'src/common/http/basic-auth';
import { sameOriginWritesOnly } from 'src/common/http/same-origin';
import { AppConfig } from 'src/config/app-config';
import { ALL_QUEUES } from 'src/infra/queue/queue.constants';

/**
 * Bull Board at /queues behind the operator's Basic auth; state-changing requests only from
 * the board's own pages (README "Security").
 */
@Module({
  imports: [
    BullBoardModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        route: '/queues',
        adapter: ExpressAdapter,
        // Bull Board has no CSRF token of its own: cross-site writes are refused first.
        middleware: [
          sameOriginWritesOnly(config.publicUrl),
          basicAuthMiddleware(config.admin.username, config.admin.password),
        ],
        boardOptions: { uiConfig: { boardTitle: 'Email Sender queues' } },
      }),
    }),
    BullBoardModule.forFeature(...ALL_QUEUES.map((name) => ({ name, adapter: BullMQAdapter }))),
  ],
})
export class QueueBoardModule {}
