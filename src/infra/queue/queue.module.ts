import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { AppConfig } from 'src/config/app-config';
import { redisOptionsFromUrl } from 'src/infra/redis/redis.service';
import { ALL_QUEUES, defaultJobOptions } from 'src/infra/queue/queue.constants';
import { QueueMonitorService } from 'src/infra/queue/queue-monitor.service';

/** Registers every queue once; feature modules inject them with @InjectQueue(QueueName.X). */
@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        prefix: `${config.redisKeyPrefix}:bull`,
        connection: {
          ...redisOptionsFromUrl(config.redisUrl),
          // Workers block on Redis; BullMQ requires unlimited retries for them.
          maxRetriesPerRequest: null,
          retryStrategy: (times: number) => Math.min(times * 250, 3000),
        },
      }),
    }),
    BullModule.registerQueueAsync(
      ...ALL_QUEUES.map((name) => ({
        name,
        inject: [AppConfig],
        useFactory: (config: AppConfig) => ({ defaultJobOptions: defaultJobOptions(name, config) }),
      })),
    ),
  ],
  providers: [QueueMonitorService],
  exports: [BullModule, QueueMonitorService],
})
export class QueueModule {}
