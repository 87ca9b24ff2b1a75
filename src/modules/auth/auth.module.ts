import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKey } from 'src/modules/auth/api-key.entity';
import { ApiKeysService } from 'src/modules/auth/api-keys.service';
import { AuthBanService } from 'src/modules/auth/auth-ban.service';
import { ApiKeyGuard } from 'src/modules/auth/guards/api-key.guard';
import { BanGuard } from 'src/modules/auth/guards/ban.guard';

@Module({
  imports: [TypeOrmModule.forFeature([ApiKey])],
  providers: [ApiKeysService, AuthBanService, ApiKeyGuard, BanGuard],
  exports: [ApiKeysService, AuthBanService, ApiKeyGuard, BanGuard],
})
export class AuthModule {}
