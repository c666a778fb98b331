import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ActiveCallInfo } from '../runtime.js';
import { ErrorResponse, notFound } from '../errors.js';
import type { ResourcePluginOptions } from './plugin-options.js';

const MediaLegView = Type.Object({
  relayPort: Type.Integer({ description: 'our RTP port this party sends to (RTCP on the next port)' }),
  sendsTo: Type.Union([
    Type.Object({ address: Type.String(), port: Type.Integer(), latched: Type.Boolean({ description: 'learned from the party\'s own packets (symmetric RTP)' }) }),
    Type.Null(),
  ], { description: 'where the party\'s media goes now; null until it may be sent anywhere' }),
  packetsReceived: Type.Integer(),
  packetsDropped: Type.Integer({ description: 'from addresses other than the party\'s, or from a second source while the first is active' }),
});

const MediaStreamView = Type.Object({
  type: Type.String({ description: 'm= media type: audio, video, ...' }),
  caller: MediaLegView,
  callee: Type.Union([MediaLegView, Type.Null()], { description: 'null when the server itself answered (a service)' }),
  heldBy: Type.Union([Type.Literal('caller'), Type.Literal('callee'), Type.Null()]),
});

const ActiveCallView = Type.Object({
  id: Type.String(),
  domain: Type.String(),
  caller: Type.String(),
  callee: Type.String(),
  state: Type.Union([Type.Literal('ringing'), Type.Literal('answered')]),
  startedAt: Type.String({ format: 'date-time' }),
  answeredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  media: Type.Array(MediaStreamView, { description: 'relayed streams; empty while the relay opens or when media flows directly' }),
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
