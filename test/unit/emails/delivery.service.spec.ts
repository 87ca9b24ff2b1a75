import { DeliveryAlertsService } from 'src/modules/emails/delivery-alerts.service';
import { DeliveryService } from 'src/modules/emails/delivery.service';
import {
  ClaimedMessage,
  DeliveryTransitionsRepository,
} from 'src/modules/emails/lifecycle/delivery-transitions.repository';
import { MessageComposer } from 'src/modules/emails/message-composer';
import {
  MailTransport,
  OutgoingMessage,
  TransportResult,
} from 'src/modules/emails/transport/mail-transport';
import { RateControlService } from 'src/modules/rate-control/rate-control.service';

const claimed: ClaimedMessage = {
  id: '41',
  messageId: '6f1d2c1e-8a51-4d0e-9a57-1c3f7f0a9b21',
  recipient: 'ann@example.com',
  recipientDomain: 'example.com',
  sender: 'shop@example.com',
  subject: 'Hi',
  templateId: null,
  campaignId: null,
  tag: null,
  stream: 'transactional',
  details: { template_id: null, variables: {}, options: {} } as ClaimedMessage['details'],
  sendAt: null,
  attachmentSet: null,
  suppressed: false,
};

const outgoing: OutgoingMessage = {
  messageId: claimed.messageId,
  from: claimed.sender,
  to: claimed.recipient,
  subject: 'Hi',
  html: null,
  text: 'Hello',
  headers: {},
};

const sent: TransportResult = {
  providerMessageId: '37171',
  providerToken: 'Xq3nR8vLp2TzKw9A',
  postalMessageId: null,
};

/** What pg / TypeORM throw while PostgreSQL is down or restarting. */
const connectionRefused = (): Error =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const shuttingDown = (): Error =>
  Object.assign(new Error('the database system is shutting down'), { code: '57P03' });

describe(DeliveryService.name, () => {
  let logs: jest.Mocked<
    Pick<
      DeliveryTransitionsRepository,
      'claimForDelivery' | 'markSent' | 'markFailed' | 'release' | 'recordTransientError'
    >
  >;
  let transport: {
    name: 'postal';
    send: jest.Mock<Promise<TransportResult>, [OutgoingMessage]>;
    afterSent: jest.Mock<Promise<void>, [OutgoingMessage, TransportResult]>;
  };
  let service: DeliveryService;

  beforeEach(() => {
    logs = {
      claimForDelivery: jest.fn().mockResolvedValue(claimed),
      markSent: jest.fn(),
      markFailed: jest.fn(),
      release: jest.fn(),
      recordTransientError: jest.fn(),
    };
    transport = {
      name: 'postal',
      send: jest.fn().mockResolvedValue(sent),
      afterSent: jest.fn().mockResolvedValue(undefined),
    };
    const rateControl = { acquire: jest.fn().mockResolvedValue({ granted: true }) };
    const composer = { compose: jest.fn().mockResolvedValue(outgoing) };
    service = new DeliveryService(
      logs as unknown as DeliveryTransitionsRepository,
      rateControl as unknown as RateControlService,
      composer as unknown as MessageComposer,
      transport as unknown as MailTransport,
      {} as DeliveryAlertsService,
    );
  });

  describe('deliver', () => {
    const attempt = { attemptsMade: 0, maxAttempts: 8 };

    it('records a message Postal accepted once PostgreSQL answers again, sending it once', async () => {
      logs.markSent
        .mockRejectedValueOnce(shuttingDown())
        .mockRejectedValueOnce(connectionRefused())
        .mockResolvedValueOnce(true);

      await expect(service.deliver(claimed.messageId, 'example.com', attempt)).resolves.toEqual({
        kind: 'sent',
        providerMessageId: '37171',
      });
      expect(transport.send).toHaveBeenCalledTimes(1);
      expect(logs.markSent).toHaveBeenCalledTimes(3);
      // The rendered subject is recorded with the send (GET /api/v1/status shows it).
      expect(logs.markSent).toHaveBeenLastCalledWith(
        claimed.id,
        { ...sent, subject: outgoing.subject },
        null,
      );
    });

    it("hands the message to the transport's afterSent once it is recorded sent, whatever the transport", async () => {
      const order: string[] = [];
      logs.markSent.mockImplementation(async () => {
        order.push('markSent');
        return true;
      });
      transport.afterSent.mockImplementation(async () => {
        order.push('afterSent');
      });

      await expect(service.deliver(claimed.messageId, 'example.com', attempt)).resolves.toEqual({
        kind: 'sent',
        providerMessageId: '37171',
      });
      expect(order).toEqual(['markSent', 'afterSent']);
      expect(transport.afterSent).toHaveBeenCalledWith(outgoing, sent);
    });

    it('still reports sent when the transport fails to report its outcome afterwards', async () => {
      logs.markSent.mockResolvedValue(true);
      transport.afterSent.mockRejectedValueOnce(new Error('webhook store down'));

      await expect(service.deliver(claimed.messageId, 'example.com', attempt)).resolves.toEqual({
        kind: 'sent',
        providerMessageId: '37171',
      });
      expect(logs.markFailed).not.toHaveBeenCalled();
    });

    it('does not retry recording on an error that is not an outage', async () => {
      const bug = new Error('column "sent_att" does not exist');
      logs.markSent.mockRejectedValueOnce(bug);

      await expect(service.deliver(claimed.messageId, 'example.com', attempt)).rejects.toBe(bug);
      expect(transport.send).toHaveBeenCalledTimes(1);
      expect(logs.markSent).toHaveBeenCalledTimes(1);
    });
  });
});
