import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiToken } from '../../store/types.js';
import { generateToken, sha256Hex } from '../authentication.js';
import { ErrorResponse, notFound } from '../errors.js';
import type { ResourcePluginOptions } from './plugin-options.js';

const TokenInfo = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const CreatedToken = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  token: Type.String({ description: 'the secret, shown only in this response' }),
  createdAt: Type.String({ format: 'date-time' }),
});

const NewToken = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100, description: '1-100 characters naming who uses the token' }),
}, { additionalProperties: false });

const TokenParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });

function describe(token: ApiToken) {
  return {
    id: token.id,
    name: token.name,
    createdAt: new Date(token.createdAt).toISOString(),
    lastUsedAt: token.lastUsedAt === null ? null : new Date(token.lastUsedAt).toISOString(),
  };
}

export const tokenRoutes: FastifyPluginAsyncTypebox<ResourcePluginOptions> = async (app, { store }) => {
  app.post('/tokens', {
    schema: {
      summary: 'Create a bearer token (the secret is returned once and only its hash is kept)',
      tags: ['tokens'],
      body: NewToken,
      response: { 201: CreatedToken, 400: ErrorResponse },
    },
  }, async (request, reply) => {
    const secret = generateToken();
    const token = store.tokens.create(request.body.name, sha256Hex(secret));
    return reply.code(201).send({ id: token.id, name: token.name, token: secret, createdAt: new Date(token.createdAt).toISOString() });
  });

  app.get('/tokens', {
    schema: { summary: 'List bearer tokens (without secrets)', tags: ['tokens'], response: { 200: Type.Array(TokenInfo) } },
  }, async () => store.tokens.list().map(describe));

  app.delete('/tokens/:id', {
    schema: { summary: 'Revoke a bearer token', tags: ['tokens'], params: TokenParams, response: { 204: Type.Null(), 404: ErrorResponse } },
  }, async (request, reply) => {
    if (!store.tokens.delete(request.params.id)) throw notFound(`no token with id ${request.params.id}`);
    return reply.code(204).send(null);
  });
};
