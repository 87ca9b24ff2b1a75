import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { STREAMS } from 'src/common/streams';
import type { OpenApiWebhooks } from 'src/common/http/openapi-webhooks';
import {
  EVENT_TYPES,
  type EventPayload,
  type EventType,
} from 'src/modules/event-webhooks/event-types';

/** `data` of an event webhook: the message's fields, then the event's own. */
export class EmailEventDataDto {
  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description: 'null for email.suppressed (no message was created)',
  })
  message_id: string | null;
  @ApiProperty({ example: 'ann@example.com' })
  recipient: string;
  @ApiProperty({ enum: STREAMS })
  stream: string;
  @ApiProperty({ type: String, nullable: true })
  campaign_id: string | null;
  @ApiProperty({ type: String, nullable: true })
  tag: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  batch_id: string | null;
  @ApiPropertyOptional({ enum: ['hard', 'soft'], description: 'email.bounced' })
  bounce_type?: string;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description:
      'email.bounced: the classified reason; email.failed: the error; email.suppressed: the suppression reason',
  })
  reason?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'The remote server reply' })
  diagnostic?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, example: '550' })
  smtp_code?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, example: '5.1.1' })
  enhanced_code?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'email.clicked' })
  url?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'email.opened, email.clicked' })
  ip?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'email.opened, email.clicked' })
  user_agent?: string | null;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: 'email.complained, email.unsubscribed',
  })
  source?: string | null;
}

/** The body of every event webhook request. */
export class EmailEventPayloadDto {
  @ApiProperty({ enum: EVENT_TYPES })
  type: string;
  @ApiProperty({ format: 'date-time' })
  created_at: string;
  @ApiProperty({ type: EmailEventDataDto })
  data: EmailEventDataDto;
}

const MESSAGE = {
  message_id: '0b9f3c52-6f0e-4d0e-9a51-5a8f1c2d3e4f',
  recipient: 'ann@example.com',
  stream: 'transactional',
  campaign_id: 'spring-sale',
  tag: 'welcome',
  batch_id: null,
};

const FIELDS: Record<EventType, [string, Record<string, unknown>]> = {
  'email.sent': ['The transport accepted the message', {}],
  'email.delivered': [
    'The receiving server accepted it',
    { diagnostic: '250 2.0.0 OK 1733558400 q1si1' },
  ],
  'email.delayed': [
    'Delivery was deferred; the provider retries',
    { diagnostic: '421 4.7.0 Try again later', smtp_code: '421', enhanced_code: '4.7.0' },
  ],
  'email.bounced': [
    'A hard or soft bounce',
    {
      bounce_type: 'hard',
      reason: 'user_unknown',
      diagnostic: '550 5.1.1 The email account does not exist',
      smtp_code: '550',
      enhanced_code: '5.1.1',
    },
  ],
  'email.complained': ['The recipient reported it as spam', { source: 'fbl' }],
  'email.opened': ['The recipient opened it', { ip: '203.0.113.7', user_agent: 'Mozilla/5.0' }],
  'email.clicked': [
    'The recipient clicked a link',
    { url: 'https://shop.example/offer', ip: '203.0.113.7', user_agent: 'Mozilla/5.0' },
  ],
  'email.unsubscribed': ['The recipient unsubscribed', { source: 'unsubscribe_link' }],
  'email.failed': ['The message failed for good', { reason: 'Recipient blacklisted' }],
  'email.canceled': ['The message was canceled before it left', {}],
  'email.suppressed': [
    'A recipient was refused at accept: it is on the suppression list',
    { message_id: null, reason: 'hard_bounce' },
  ],
};

/** An example body of each event type. */
export function examplePayload(type: EventType): EventPayload {
  return {
    type,
    created_at: '2026-12-07T08:30:00.000Z',
    data: { ...MESSAGE, ...FIELDS[type][1] } as EventPayload['data'],
  };
}

/** The `x-webhooks` section: one POST per event type, with its example and signature headers. */
export const EVENT_WEBHOOKS_OPENAPI: OpenApiWebhooks = Object.fromEntries(
  EVENT_TYPES.map((type) => [
    type,
    {
      post: {
        operationId: `on${type
          .split('.')
          .map((p) => p[0].toUpperCase() + p.slice(1))
          .join('')}`,
        tags: ['event webhooks'],
        summary: FIELDS[type][0],
        description:
          'Signed per the Standard Webhooks specification: verify `webhook-signature` with ' +
          'your endpoint secret (README "Event webhooks"). Answer 2xx within 10 s; anything ' +
          'else is retried for about three days with the same `webhook-id`; 410 disables the endpoint.',
        security: [],
        parameters: [
          {
            name: 'webhook-id',
            in: 'header',
            required: true,
            description: 'The event id; the same on every retry (dedupe on it)',
            schema: { type: 'string', example: 'msg_0b9f3c526f0e4d0e9a515a8f1c2d3e4f' },
          },
          {
            name: 'webhook-timestamp',
            in: 'header',
            required: true,
            description: 'Seconds since the epoch when this attempt was signed',
            schema: { type: 'string', example: '1796610600' },
          },
          {
            name: 'webhook-signature',
            in: 'header',
            required: true,
            description:
              '`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, space-separated when two secrets sign (rotation)',
            schema: { type: 'string', example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=' },
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { $ref: '#/components/schemas/EmailEventPayloadDto' },
              example: examplePayload(type),
            },
          },
        },
        responses: {
          '200': { description: 'Received (any 2xx)' },
          '410': { description: 'Gone: the endpoint is disabled and receives nothing more' },
        },
      },
    },
  ]),
);
