import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'route:public';
export const ALLOW_SEND_SCOPE = 'route:allow-send-scope';
export const SKIP_IP_LIMIT = 'route:skip-ip-limit';

/** No API key needed (health, webhooks, tracking, unsubscribe, docs, metrics). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** Keys with scope `send` may call this route; every other API route needs `full`. */
export const AllowSendScope = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ALLOW_SEND_SCOPE, true);

/** Not IP-limited (README "Unauthenticated": health, webhook, tracking, unsubscribe). */
export const SkipIpLimit = (): MethodDecorator & ClassDecorator => SetMetadata(SKIP_IP_LIMIT, true);
