import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from 'src/common/http/api-error-responses.decorator';
import {
  FeedbackReportDetailDto,
  FeedbackReportListQueryDto,
  FeedbackReportListResponseDto,
} from 'src/modules/webhooks/dto/feedback-report.dto';
import { FeedbackReportsService } from 'src/modules/webhooks/feedback-reports.service';

/** Reports received at the feedback-loop address, read-only; scope `full`. */
@ApiTags('feedback reports')
@ApiBearerAuth()
@Controller('api/v1/feedback-reports')
export class FeedbackReportsController {
  constructor(private readonly feedback: FeedbackReportsService) {}

  @Get()
  @ApiOperation({
    operationId: 'listFeedbackReports',
    summary:
      'Feedback (ARF) reports received, newest first, with what was done (filter: outcome); unmatched, recipient_mismatch, not_spam, auth_failure, ignored and unreadable ones changed nothing',
  })
  @ApiResponse({ status: 200, type: FeedbackReportListResponseDto })
  @ApiErrorResponses(400, 401, 403, 429)
  list(@Query() q: FeedbackReportListQueryDto): Promise<FeedbackReportListResponseDto> {
    return this.feedback.list(q);
  }

  @Get(':id')
  @ApiOperation({
    operationId: 'getFeedbackReport',
    summary: 'One feedback report with the message as received',
  })
  @ApiResponse({ status: 200, type: FeedbackReportDetailDto })
  @ApiErrorResponses(401, 403, 404, 429)
  get(@Param('id') id: string): Promise<FeedbackReportDetailDto> {
    return this.feedback.get(id);
  }
}
