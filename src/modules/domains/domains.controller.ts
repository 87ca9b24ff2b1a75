import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import { DomainsService } from 'src/modules/domains/domains.service';
import {
  DomainCreateDto,
  DomainListQueryDto,
  DomainListResponseDto,
  DomainRemoveResponseDto,
  DomainResponseDto,
} from 'src/modules/domains/dto/domain.dto';

const DOMAIN_PARAM = { name: 'domain', description: 'The domain name', example: 'shop.example' };

/** Sending domains and their DNS checks (README "Sending domains"); scope `full`. */
@ApiTags('domains')
@ApiBearerAuth()
@Controller('api/v1/domains')
export class DomainsController {
  constructor(private readonly domains: DomainsService) {}

  @Post()
  @ApiOperation({
    operationId: 'addDomain',
    summary: 'Add a sending domain (or update its DKIM selector and key) and check its DNS now',
  })
  @ApiResponse({ status: 201, description: 'Added, with its checks', type: DomainResponseDto })
  @ApiResponse({
    status: 200,
    description: 'Already added: updated and re-checked',
    type: DomainResponseDto,
  })
  @ApiErrorResponses(400, 401, 403, 429)
  async add(
    @Body() body: DomainCreateDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<DomainResponseDto> {
    const { domain, created } = await this.domains.add({
      domain: body.domain,
      dkimSelector: body.dkim_selector,
      dkimPublicKey: body.dkim_public_key,
    });
    res.status(created ? HttpStatus.CREATED : HttpStatus.OK);
    return domain;
  }

  @Get()
  @ApiOperation({
    operationId: 'listDomains',
    summary: 'Sending domains with their last checks, newest first',
  })
  @ApiResponse({ status: 200, type: DomainListResponseDto })
  @ApiErrorResponses(400, 401, 403, 429)
  list(@Query() query: DomainListQueryDto): Promise<DomainListResponseDto> {
    return this.domains.list(query);
  }

  @Get(':domain')
  @ApiOperation({ operationId: 'getDomain', summary: 'One sending domain with its last checks' })
  @ApiParam(DOMAIN_PARAM)
  @ApiResponse({ status: 200, type: DomainResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  get(@Param('domain') domain: string): Promise<DomainResponseDto> {
    return this.domains.get(domain);
  }

  @Post(':domain/verify')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    operationId: 'verifyDomain',
    summary:
      "Check the domain's DNS now: each record's status, what was found, the record to publish",
  })
  @ApiParam(DOMAIN_PARAM)
  @ApiResponse({ status: 200, type: DomainResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  verify(@Param('domain') domain: string): Promise<DomainResponseDto> {
    return this.domains.verify(domain);
  }

  @Delete(':domain')
  @ApiOperation({ operationId: 'removeDomain', summary: 'Remove a sending domain' })
  @ApiParam(DOMAIN_PARAM)
  @ApiResponse({ status: 200, type: DomainRemoveResponseDto })
  @ApiErrorResponses(401, 403, 404, 429)
  async remove(@Param('domain') domain: string): Promise<DomainRemoveResponseDto> {
    return { domain: await this.domains.remove(domain), removed: true };
  }
}
