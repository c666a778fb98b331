import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ActiveCallInfo } from '../runtime.js';
import { ErrorResponse, notFound } from '../errors.js';
import type { ResourcePluginOptions } from './plugin-options.js';

const ActiveCallView = Type.Object({
  id: Type.String(),
  domain: Type.String(),
  caller: Type.String(),
  callee: Type.String(),
  state: Type.Union([Type.Literal('ringing'), Type.Literal('answered')]),
  startedAt: Type.String({ format: 'date-time' }),
  answeredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const CallParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 256 }) });

function describe(call: ActiveCallInfo) {
  return {
    ...call,
    startedAt: new Date(call.startedAt).toISOString(),
    answeredAt: call.answeredAt === null ? null : new Date(call.answeredAt).toISOString(),
  };
}

export const callRoutes: FastifyPluginAsyncTypebox<ResourcePluginOptions> = async (app, { runtime }) => {
  app.get('/calls', {
    schema: { summary: 'Calls in progress', tags: ['calls'], response: { 200: Type.Array(ActiveCallView) } },
  }, async () => runtime.activeCalls().map(describe));

  app.delete('/calls/:id', {
    schema: { summary: 'Hang up a call in progress', tags: ['calls'], params: CallParams, response: { 204: Type.Null(), 404: ErrorResponse } },
  }, async (request, reply) => {
    if (!runtime.hangupCall(request.params.id)) throw notFound(`no active call with id ${request.params.id}`);
    return reply.code(204).send(null);
  });
};
