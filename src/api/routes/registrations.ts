import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Binding } from '../../store/types.js';
import { ErrorResponse } from '../errors.js';
import type { ResourcePluginOptions } from './plugin-options.js';

const RegistrationView = Type.Object({
  domain: Type.String(),
  number: Type.String(),
  contact: Type.String({ description: 'the Contact header value as registered' }),
  expiresInSeconds: Type.Integer(),
  source: Type.Object({ transport: Type.String(), address: Type.String(), port: Type.Integer() }),
  userAgent: Type.String(),
  registeredAt: Type.String({ format: 'date-time' }),
});

const RegistrationQuery = Type.Object({
  domain: Type.Optional(Type.String({ maxLength: 253 })),
  number: Type.Optional(Type.String({ maxLength: 32 })),
});

function describe(binding: Binding, now: number) {
  return {
    domain: binding.domain,
    number: binding.number,
    contact: binding.contact,
    expiresInSeconds: Math.ceil((binding.expiresAt - now) / 1000),
    source: { transport: binding.transport, address: binding.sourceAddress, port: binding.sourcePort },
    userAgent: binding.userAgent,
    registeredAt: new Date(binding.registeredAt).toISOString(),
  };
}

export const registrationRoutes: FastifyPluginAsyncTypebox<ResourcePluginOptions> = async (app, { store }) => {
  app.get('/registrations', {
    schema: {
      summary: 'Current (unexpired) registrations',
      tags: ['registrations'],
      querystring: RegistrationQuery,
      response: { 200: Type.Array(RegistrationView), 400: ErrorResponse },
    },
  }, async (request) => {
    const now = Date.now();
    const domain = request.query.domain?.toLowerCase();
    const { number } = request.query;
    // Expired rows linger until the registrar's sweep; they are not registrations any more.
    return store.bindings.list(domain, number)
      .filter((binding) => binding.expiresAt > now && (number === undefined || binding.number === number))
      .map((binding) => describe(binding, now));
  });
};
