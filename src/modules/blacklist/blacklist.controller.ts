import { Body, Controller, Delete, Get, HttpStatus, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { NotFoundError } from 'src/common/errors/app-error';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import { BlacklistService, normalizeEmail } from 'src/modules/blacklist/blacklist.service';
import {
  BlacklistCheckQueryDto,
  BlacklistRemoveQueryDto,
} from 'src/modules/blacklist/dto/blacklist-check-query.dto';
import { BlacklistCreateDto } from 'src/modules/blacklist/dto/blacklist-create.dto';
import { BlacklistListQueryDto } from 'src/modules/blacklist/dto/blacklist-list-query.dto';
import {
  BlacklistCheckResponseDto,
  BlacklistEntryResponseDto,
  BlacklistListResponseDto,
  BlacklistRemoveResponseDto,
} from 'src/modules/blacklist/dto/blacklist-response.dto';

/** The suppression list (README "Management"); scope `full` only. */
@ApiTags('blacklist')
@ApiBearerAuth()
@Controller('api/v1/blacklist')
export class BlacklistController {
  constructor(private readonly blacklist: BlacklistService) {}

  @Get()
  @ApiOperation({
    operationId: 'listBlacklist',
    summary: 'Live suppression entries, newest first (keyset pagination)',
  })
  @ApiResponse({ status: 200, type: BlacklistListResponseDto })
  @ApiErrorResponses(400, 401, 403, 429)
  list(@Query() query: BlacklistListQueryDto): Promise<BlacklistListResponseDto> {
    return this.blacklist.list(query);
  }

  @Post()
  @ApiOperation({
    operationId: 'addToBlacklist',
    summary: 'Suppress an address (a re-add never replaces a stronger reason)',
  })
  @ApiResponse({ status: 201, description: 'Added', type: BlacklistEntryResponseDto })
  @ApiResponse({
    status: 200,
    description: 'Already listed: the entry as it stands',
    type: BlacklistEntryResponseDto,
  })
  @ApiErrorResponses(400, 401, 403, 429)
  async create(
    @Body() body: BlacklistCreateDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<BlacklistEntryResponseDto> {
    const { entry, created } = await this.blacklist.addEntry({
      email: body.email,
      reason: body.reason ?? 'manual',
      scope: body.scope ?? 'all',
      source: body.source ?? 'api',
      details: body.details,
      expiresInS: body.expires_in ?? null,
    });
    // README "Management": 201 when the address was added, 200 when it was already listed.
    res.status(created ? HttpStatus.CREATED : HttpStatus.OK);
    return entry;
  }

  @Get('check')
  @ApiOperation({
    operationId: 'checkBlacklist',
    summary: 'Whether an address is suppressed right now (for mail of a stream)',
  })
  @ApiResponse({ status: 200, type: BlacklistCheckResponseDto })
  @ApiErrorResponses(400, 401, 403, 429)
  async check(@Query() query: BlacklistCheckQueryDto): Promise<BlacklistCheckResponseDto> {
    const hit = await this.blacklist.check(query.email, query.stream);
    return {
      email: normalizeEmail(query.email),
      blocked: hit !== null,
      reason: hit?.reason ?? null,
      scope: hit?.scope ?? null,
      expires_at: hit?.expiresAt ? hit.expiresAt.toISOString() : null,
    };
  }

  @Delete(':email')
  @ApiOperation({
    operationId: 'removeFromBlacklist',
    summary: 'Remove an address from the suppression list (one scope, or all)',
  })
  @ApiParam({ name: 'email', description: 'The address, URL-encoded' })
  @ApiResponse({ status: 200, type: BlacklistRemoveResponseDto })
  @ApiErrorResponses(400, 401, 403, 404, 429)
  async remove(
    @Param('email') email: string,
    @Query() query: BlacklistRemoveQueryDto,
  ): Promise<BlacklistRemoveResponseDto> {
    const normalized = normalizeEmail(email);
    if (!normalized || !(await this.blacklist.remove(normalized, query.scope))) {
      throw new NotFoundError(`${normalized || 'The address'} is not on the suppression list`);
    }
    return { email: normalized, removed: true };
  }
}
