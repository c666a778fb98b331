import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { RecordingRefusedError } from '../../call/call-manager.js';
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

const RecordingMode = Type.Union([Type.Literal('both'), Type.Literal('caller'), Type.Literal('callee')], {
  description: 'both parties mixed, or what one of them says',
});

const RecordingView = Type.Object({
  file: Type.String({ description: 'path of the WAV file inside the data directory' }),
  mode: RecordingMode,
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
  recording: Type.Union([RecordingView, Type.Null()], { description: 'the recording in progress, if any' }),
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

  app.post('/calls/:id/recording', {
    schema: {
      summary: 'Start recording an answered call',
      description: '?mode=both (default), caller or callee. Writes <data-dir>/recordings/YYYY-MM-DD/<id>.wav (16-bit PCM, 8 kHz) until the recording is stopped or the call ends. 409 when the call is not answered, already recorded, or its media does not pass through the server.',
      tags: ['calls'],
      params: CallParams,
      querystring: Type.Object({ mode: Type.Optional(RecordingMode) }),
      response: { 201: Type.Object({ file: Type.String() }), 404: ErrorResponse, 409: ErrorResponse },
    },
  }, async (request, reply) => {
    let started;
    try {
      started = await runtime.startRecording(request.params.id, request.query.mode ?? 'both');
    } catch (err) {
      if (err instanceof RecordingRefusedError) return reply.code(409).send({ error: err.message });
      throw err;
    }
    if (!started) throw notFound(`no active call with id ${request.params.id}`);
    return reply.code(201).send(started);
  });

  app.delete('/calls/:id/recording', {
    schema: {
      summary: 'Stop recording a call',
      tags: ['calls'],
      params: CallParams,
      response: { 200: Type.Object({ file: Type.String(), seconds: Type.Number() }), 404: ErrorResponse },
    },
  }, async (request) => {
    const stopped = await runtime.stopRecording(request.params.id);
    if (!stopped) throw notFound(`no recording of an active call with id ${request.params.id}`);
    return stopped;
  });

  app.delete('/calls/:id', {
    schema: { summary: 'Hang up a call in progress', tags: ['calls'], params: CallParams, response: { 204: Type.Null(), 404: ErrorResponse } },
  }, async (request, reply) => {
    if (!runtime.hangupCall(request.params.id)) throw notFound(`no active call with id ${request.params.id}`);
    return reply.code(204).send(null);
  });
};
