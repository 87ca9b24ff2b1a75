import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { Batch } from 'src/modules/emails/batch.entity';

@Injectable()
export class BatchRepository {
  constructor(@InjectRepository(Batch) private readonly batches: Repository<Batch>) {}

  async insert(
    em: EntityManager,
    b: {
      id: string;
      apiKeyId: number;
      campaignId: string | null;
      total: number;
      accepted: number;
      rejected: number;
    },
  ): Promise<void> {
    await em.insert(Batch, b);
  }

  find(id: string): Promise<Batch | null> {
    return this.batches.findOne({ where: { id } });
  }
}
