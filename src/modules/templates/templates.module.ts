import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EmailTemplate } from 'src/modules/templates/email-template.entity';
import { EmailTemplateRepository } from 'src/modules/templates/email-template.repository';
import { TemplatesController } from 'src/modules/templates/templates.controller';
import { TemplatesService } from 'src/modules/templates/templates.service';

@Module({
  imports: [TypeOrmModule.forFeature([EmailTemplate])],
  controllers: [TemplatesController],
  providers: [TemplatesService, EmailTemplateRepository],
  exports: [TemplatesService],
})
export class TemplatesModule {}
