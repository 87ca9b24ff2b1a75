import { createPublicKey } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateIf,
} from 'class-validator';
import { idCursor } from 'src/common/pagination/keyset-cursor';
import { CHECK_STATUSES, DNS_CHECK_NAMES, normalizeDkimKey } from 'src/modules/domains/dns-checks';
import { DOMAIN_STATUSES } from 'src/modules/domains/sending-domain.entity';

/** `GET /api/v1/domains`: the last row's sending_domains.id, as plain digits. */
export const DOMAIN_CURSOR = idCursor('integer', { encoding: 'plain' });
export const DOMAIN_LIST_DEFAULT_LIMIT = 50;
export const DOMAIN_LIST_MAX_LIMIT = 200;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A domain as stored: IDNA (punycode) ASCII, lower-case, without a trailing dot, at least two
 * labels; null when the text is not a domain name.
 */
export function normalizeDomainName(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim().replace(/\.$/, '');
  if (trimmed === '' || trimmed.length > 253 || /[\s@/:]/.test(trimmed)) return null;
  const ascii = domainToASCII(trimmed.toLowerCase());
  if (!ascii || ascii.length > 253) return null;
  const labels = ascii.split('.');
  return labels.length >= 2 && labels.every((l) => LABEL.test(l)) ? ascii : null;
}

/** Whether a DKIM key given by the caller is a public key (PEM, base64 SPKI, or a record). */
export function isDkimPublicKey(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const key = normalizeDkimKey(value);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return false;
  try {
    createPublicKey({ key: Buffer.from(key, 'base64'), format: 'der', type: 'spki' });
    return true;
  } catch {
    return false;
  }
}

const trim = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? value.trim() : value;

export class DomainCreateDto {
  @ApiProperty({
    example: 'shop.example',
    maxLength: 253,
    description: 'The domain in From addresses (an internationalised name is stored as punycode)',
  })
  @ValidateBy({
    name: 'isDomainName',
    validator: {
      validate: (v: unknown) => normalizeDomainName(v) !== null,
      defaultMessage: () => 'domain must be a domain name such as shop.example',
    },
  })
  domain: string;

  @ApiPropertyOptional({
    example: 'postal-AbCdEf',
    maxLength: 63,
    description:
      "Postal's DKIM selector for the domain (the record name before `._domainkey`, shown on the domain's DNS page in Postal). Give it with dkim_public_key",
  })
  @ValidateIf(
    (o: DomainCreateDto) => o.dkim_selector !== undefined || o.dkim_public_key !== undefined,
  )
  @Transform(trim)
  @IsString({ message: 'dkim_selector is required with dkim_public_key' })
  @MaxLength(63)
  @Matches(/^[a-z0-9]([a-z0-9_-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]*[a-z0-9])?)*$/i, {
    message: 'dkim_selector must be a DNS name such as postal-AbCdEf',
  })
  dkim_selector?: string;

  @ApiPropertyOptional({
    example: 'MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC…',
    maxLength: 4096,
    description:
      "Postal's DKIM public key for the domain: the p= value of its DKIM record (the whole record or a PEM are accepted). Give it with dkim_selector",
  })
  @ValidateIf(
    (o: DomainCreateDto) => o.dkim_selector !== undefined || o.dkim_public_key !== undefined,
  )
  @IsString({ message: 'dkim_public_key is required with dkim_selector' })
  @MaxLength(4096)
  @ValidateBy({
    name: 'isDkimPublicKey',
    validator: {
      validate: isDkimPublicKey,
      defaultMessage: () =>
        'dkim_public_key must be a public key (the p= value of the DKIM record)',
    },
  })
  dkim_public_key?: string;
}

export class DomainListQueryDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: DOMAIN_LIST_MAX_LIMIT,
    default: DOMAIN_LIST_DEFAULT_LIMIT,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(DOMAIN_LIST_MAX_LIMIT)
  limit?: number;

  @ApiPropertyOptional({ description: 'next_cursor of the previous page' })
  @IsOptional()
  @IsString()
  @ValidateBy({
    name: 'isDomainCursor',
    validator: {
      validate: (v: unknown) => DOMAIN_CURSOR.isValid(v),
      defaultMessage: () => 'cursor must be a next_cursor from this endpoint',
    },
  })
  cursor?: string;
}

export class DnsCheckDto {
  @ApiProperty({ enum: DNS_CHECK_NAMES, example: 'spf' })
  check: string;

  @ApiProperty({ enum: CHECK_STATUSES, example: 'fail' })
  status: string;

  @ApiProperty({ example: 'shop.example', description: 'The name looked up' })
  host: string;

  @ApiProperty({ enum: ['TXT', 'CNAME', 'MX'], example: 'TXT' })
  type: string;

  @ApiProperty({ type: [String], example: ['v=spf1 a mx ~all'], description: 'What DNS answered' })
  found: string[];

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'v=spf1 a mx include:spf.postal.example.com ~all',
    description: 'The exact record to publish at host',
  })
  expected: string | null;

  @ApiProperty({
    example: "SPF record is wrong: it does not include spf.postal.example.com (Postal's SPF host)",
  })
  message: string;

  @ApiProperty({
    type: String,
    nullable: true,
    example:
      'Replace the TXT record at shop.example with: v=spf1 a mx include:spf.postal.example.com ~all',
  })
  fix: string | null;

  @ApiPropertyOptional({ description: 'The lookup itself failed; the record could not be checked' })
  lookup_failed?: boolean;
}

export class DomainResponseDto {
  @ApiProperty({ example: 'shop.example' })
  domain: string;

  @ApiProperty({
    enum: DOMAIN_STATUSES,
    description:
      'pending: never passed its checks; verified: no check fails; failing: was verified, a record broke since',
  })
  status: string;

  @ApiProperty({ description: 'No DNS check fails (what REQUIRE_VERIFIED_DOMAINS asks)' })
  verified: boolean;

  @ApiProperty({ type: String, nullable: true, example: 'postal-AbCdEf' })
  dkim_selector: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The DKIM p= value' })
  dkim_public_key: string | null;

  @ApiProperty({ type: [DnsCheckDto] })
  checks: DnsCheckDto[];

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  checked_at: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Since when it has been verified; null when it is not',
  })
  verified_at: string | null;

  @ApiProperty({ format: 'date-time' })
  created_at: string;
}

export class DomainListResponseDto {
  @ApiProperty({ type: [DomainResponseDto] })
  data: DomainResponseDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page' })
  next_cursor: string | null;
}

export class DomainRemoveResponseDto {
  @ApiProperty({ example: 'shop.example' })
  domain: string;

  @ApiProperty({ example: true })
  removed: boolean;
}
