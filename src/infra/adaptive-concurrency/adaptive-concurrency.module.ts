import { Global, Module } from '@nestjs/common';
import { ApiLoadPublisher } from 'src/infra/adaptive-concurrency/api-load.publisher';
import { WorkerConcurrencyGovernor } from 'src/infra/adaptive-concurrency/worker-concurrency.governor';
import { Clock } from 'src/infra/clock/clock';

/**
 * Adaptive concurrency (README "Processes, roles and scaling out"): the `api` role publishes
 * its load, the `worker` role's processors hand their workers to the governor.
 */
@Global()
@Module({
  providers: [Clock, ApiLoadPublisher, WorkerConcurrencyGovernor],
  exports: [WorkerConcurrencyGovernor],
})
export class AdaptiveConcurrencyModule {}
