import type { Request } from 'express';
import type { AuthenticatedKey } from 'src/modules/auth/api-keys.service';

/** The Express request as our guards leave it. */
export type ApiRequest = Request & { id: string; apiKey?: AuthenticatedKey };
