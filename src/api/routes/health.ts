import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ResourcePluginOptions } from './plugin-options.js';

const Health = Type.Object({
  status: Type.Literal('ok'),
  version: Type.String(),
  uptimeSeconds: Type.Integer(),
});

/** Public so that load balancers and monitors need no credentials. */
export const healthRoutes: FastifyPluginAsyncTypebox<ResourcePluginOptions> = async (app, { runtime }) => {
  app.get('/health', {
    schema: { summary: 'Liveness check (no authentication)', tags: ['health'], security: [], response: { 200: Health } },
  }, async () => ({
    status: 'ok' as const,
    version: runtime.version,
    uptimeSeconds: Math.max(0, Math.floor((Date.now() - runtime.startedAt) / 1000)),
  }));
};
