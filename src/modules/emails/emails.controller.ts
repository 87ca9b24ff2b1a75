import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AllowSendScope } from 'src/common/decorators/route-policy.decorators';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import { MessageStatusResponseDto } from 'src/modules/emails/dto/message-status-response.dto';
import { EmailsService } from 'src/modules/emails/emails.service';

@ApiTags('emails')
@ApiBearerAuth()
@Controller('api/v1')
export class EmailsController {
  constructor(private readonly emails: EmailsService) {}

  @Get('status/:message_id')
  @AllowSendScope()
  @ApiOperation({ summary: 'Status of one message with its event timeline' })
  @ApiErrorResponses(401, 403, 404, 429)
  status(@Param('message_id') messageId: string): Promise<MessageStatusResponseDto> {
    return this.emails.getStatus(messageId);
  }
}
