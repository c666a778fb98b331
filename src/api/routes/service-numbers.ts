import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Destination, DialNumber, Domain } from '../../services/data/fields.js';
import { ConflictError, type ServiceNumber } from '../../store/types.js';
import { badRequest, conflict, ErrorResponse, notFound } from '../errors.js';
import type { ResourcePluginOptions } from './plugin-options.js';

/** Arguments travel to the service's worker with every call: kept small. */
const MAX_ARGS_BYTES = 16 * 1024;

const DialledNumber = DialNumber('the number callers dial');
const ServiceName = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,63}$',
  description: '1-64 characters of lower-case letters, digits, _ - (the service lua/services/<name>.lua)',
});
const argsDescription = 'handed to the service with every call: a JSON object of at most 16 KB';
const Args = Type.Record(Type.String(), Type.Unknown(), { description: argsDescription });
const ArgsOrEmpty = Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: argsDescription, default: {} }));
const Fallback = Destination('dialled when the service fails before the call is answered; null: the caller gets an error response');

const ServiceNumberView = Type.Object({
  id: Type.Integer(),
  domain: Type.String(),
  number: Type.String({ description: 'the number callers dial' }),
  service: Type.String({ description: 'the service that handles calls to the number' }),
  args: Args,
  fallback: Type.Union([Type.String(), Type.Null()], { description: 'dialled when the service fails before answering; null: an error response' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const NewServiceNumberBody = Type.Object({
  number: DialledNumber,
  service: ServiceName,
  args: ArgsOrEmpty,
  fallback: Fallback,
  domain: Type.Optional(Domain),
}, { additionalProperties: false });

const ReplaceServiceNumberBody = Type.Object({
  service: ServiceName,
  args: ArgsOrEmpty,
  fallback: Fallback,
}, { additionalProperties: false });

const ServiceNumberParams = Type.Object({ number: DialledNumber });
const DomainQuery = Type.Object({ domain: Type.Optional(Domain) });

function describe(serviceNumber: ServiceNumber) {
  return {
    ...serviceNumber,
    createdAt: new Date(serviceNumber.createdAt).toISOString(),
    updatedAt: new Date(serviceNumber.updatedAt).toISOString(),
  };
}

/** Numbers that run a Lua service (an IVR, a ring group, voicemail, ...) instead of ringing an extension. */
export const serviceNumberRoutes: FastifyPluginAsyncTypebox<ResourcePluginOptions> = async (app, { store, runtime }) => {
  const domainOf = (given: string | undefined) => (given ?? runtime.defaultDomain()).toLowerCase();
  const notFoundError = (number: string, domain: string) => notFound(`no service number ${number} in ${domain}`);

  function checkTarget(service: string, args: Record<string, unknown>): void {
    if (!runtime.serviceExists(service)) throw badRequest(`service: no service named "${service}"`);
    if (Buffer.byteLength(JSON.stringify(args)) > MAX_ARGS_BYTES) throw badRequest('args: must be a JSON object of at most 16 KB');
  }

  app.post('/service-numbers', {
    schema: {
      summary: 'Make a number run a service',
      tags: ['service-numbers'],
      body: NewServiceNumberBody,
      response: { 201: ServiceNumberView, 400: ErrorResponse, 409: ErrorResponse },
    },
  }, async (request, reply) => {
    const { number, service, args = {}, fallback = null } = request.body;
    const domain = domainOf(request.body.domain);
    if (!store.domains.get(domain)) throw badRequest(`domain: no such domain "${domain}"`);
    checkTarget(service, args);
    if (store.extensions.find(domain, number)) throw conflict(`${number}@${domain} is an extension`);
    try {
      return reply.code(201).send(describe(store.serviceNumbers.create({ domain, number, service, args, fallback })));
    } catch (error) {
      if (error instanceof ConflictError) throw conflict(`service number ${number}@${domain} already exists`);
      throw error;
    }
  });

  app.get('/service-numbers', {
    schema: { summary: 'List service numbers', tags: ['service-numbers'], querystring: DomainQuery, response: { 200: Type.Array(ServiceNumberView), 400: ErrorResponse } },
  }, async (request) => store.serviceNumbers.list(request.query.domain?.toLowerCase()).map(describe));

  app.get('/service-numbers/:number', {
    schema: {
      summary: 'Get one service number (?domain=, default the default domain)',
      tags: ['service-numbers'],
      params: ServiceNumberParams,
      querystring: DomainQuery,
      response: { 200: ServiceNumberView, 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request) => {
    const domain = domainOf(request.query.domain);
    const found = store.serviceNumbers.find(domain, request.params.number);
    if (!found) throw notFoundError(request.params.number, domain);
    return describe(found);
  });

  app.put('/service-numbers/:number', {
    schema: {
      summary: 'Change the service, args and fallback of a service number',
      tags: ['service-numbers'],
      params: ServiceNumberParams,
      querystring: DomainQuery,
      body: ReplaceServiceNumberBody,
      response: { 200: ServiceNumberView, 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request) => {
    const { number } = request.params;
    const domain = domainOf(request.query.domain);
    const { service, args = {}, fallback = null } = request.body;
    checkTarget(service, args);
    const replaced = store.serviceNumbers.replace(domain, number, { service, args, fallback });
    if (!replaced) throw notFoundError(number, domain);
    return describe(replaced);
  });

  app.delete('/service-numbers/:number', {
    schema: {
      summary: 'Delete a service number',
      tags: ['service-numbers'],
      params: ServiceNumberParams,
      querystring: DomainQuery,
      response: { 204: Type.Null(), 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request, reply) => {
    const domain = domainOf(request.query.domain);
    if (!store.serviceNumbers.delete(domain, request.params.number)) throw notFoundError(request.params.number, domain);
    return reply.code(204).send(null);
  });
};
