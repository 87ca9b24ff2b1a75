import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { NotFoundError } from 'src/common/errors/app-error';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import { BlacklistService, normalizeEmail } from 'src/modules/blacklist/blacklist.service';
import { BlacklistCheckQueryDto } from 'src/modules/blacklist/dto/blacklist-check-query.dto';
import { BlacklistCreateDto } from 'src/modules/blacklist/dto/blacklist-create.dto';
import { BlacklistListQueryDto } from 'src/modules/blacklist/dto/blacklist-list-query.dto';
import {
  BlacklistCheckResponseDto,
  BlacklistEntryResponseDto,
  BlacklistListResponseDto,
  BlacklistRemoveResponseDto,
} from 'src/modules/blacklist/dto/blacklist-response.dto';

/** SPEC §4.3 suppression list; scope `full` only. */
@ApiTags('blacklist')
@ApiBearerAuth()
@Controller('api/v1/blacklist')
export class BlacklistController {
  constructor(private readonly blacklist: BlacklistService) {}

  @Get()
  @ApiOperation({ summary: 'Live suppression entries, newest first (keyset pagination)' })
  @ApiErrorResponses(400, 401, 403, 429)
  list(@Query() query: BlacklistListQueryDto): Promise<BlacklistListResponseDto> {
    return this.blacklist.list(query);
  }

  @Post()
  @ApiOperation({
    summary: 'Suppress an address (a re-add never replaces a stronger reason)',
  })
  @ApiErrorResponses(400, 401, 403, 429)
  create(@Body() body: BlacklistCreateDto): Promise<BlacklistEntryResponseDto> {
    return this.blacklist.addEntry({
      email: body.email,
      reason: body.reason ?? 'manual',
      source: body.source ?? 'api',
      details: body.details,
      expiresInS: body.expires_in ?? null,
    });
  }

  @Get('check')
  @ApiOperation({ summary: 'Whether an address is suppressed right now' })
  @ApiErrorResponses(400, 401, 403, 429)
  async check(@Query() query: BlacklistCheckQueryDto): Promise<BlacklistCheckResponseDto> {
    const hit = await this.blacklist.check(query.email);
    return {
      email: normalizeEmail(query.email),
      blocked: hit !== null,
      reason: hit?.reason ?? null,
      expires_at: hit?.expiresAt ? hit.expiresAt.toISOString() : null,
    };
  }

  @Delete(':email')
  @ApiOperation({ summary: 'Remove an address from the suppression list' })
  @ApiParam({ name: 'email', description: 'The address, URL-encoded' })
  @ApiErrorResponses(401, 403, 404, 429)
  async remove(@Param('email') email: string): Promise<BlacklistRemoveResponseDto> {
    const normalized = normalizeEmail(email);
    if (!normalized || !(await this.blacklist.remove(normalized))) {
      throw new NotFoundError(`${normalized || 'The address'} is not on the suppression list`);
    }
    return { email: normalized, removed: true };
  }
}
