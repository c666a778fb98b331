import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ConflictError, type Domain } from '../../store/types.js';
import { conflict, ErrorResponse, notFound } from '../errors.js';
import type { ResourcePluginOptions } from './plugin-options.js';

const DomainName = Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]-]{1,253}$', description: 'a host name or IP address' });
const DomainView = Type.Object({ name: Type.String(), isDefault: Type.Boolean() });
const NewDomainBody = Type.Object({ name: DomainName }, { additionalProperties: false });
const DomainParams = Type.Object({ name: DomainName });

function describe(domain: Domain) {
  return { name: domain.name, isDefault: domain.isDefault };
}

/** Domains own extensions; the digest realm of an extension is its domain's name. */
export const domainRoutes: FastifyPluginAsyncTypebox<ResourcePluginOptions> = async (app, { store, runtime }) => {
  app.get('/domains', {
    schema: { summary: 'List domains', tags: ['domains'], response: { 200: Type.Array(DomainView) } },
  }, async () => store.domains.list().map(describe));

  app.post('/domains', {
    schema: {
      summary: 'Add a domain (requests whose Request-URI host is this name belong to it)',
      tags: ['domains'],
      body: NewDomainBody,
      response: { 201: DomainView, 400: ErrorResponse, 409: ErrorResponse },
    },
  }, async (request, reply) => {
    try {
      const domain = store.domains.create(request.body.name);
      runtime.onDomainsChanged?.();
      return reply.code(201).send(describe(domain));
    } catch (err) {
      if (err instanceof ConflictError) throw conflict(err.message);
      throw err;
    }
  });

  app.delete('/domains/:name', {
    schema: {
      summary: 'Delete a domain that has no extensions (the default domain cannot be deleted)',
      tags: ['domains'],
      params: DomainParams,
      response: { 204: Type.Null(), 404: ErrorResponse, 409: ErrorResponse },
    },
  }, async (request, reply) => {
    const domain = store.domains.get(request.params.name);
    if (!domain) throw notFound(`no domain named ${request.params.name}`);
    if (domain.isDefault) throw conflict(`${domain.name} is the default domain and cannot be deleted`);
    try {
      store.domains.delete(domain.name);
    } catch (err) {
      if (err instanceof ConflictError) throw conflict(err.message);
      throw err;
    }
    runtime.onDomainsChanged?.();
    return reply.code(204).send(null);
  });
};
