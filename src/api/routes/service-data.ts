import { Type, type FastifyPluginAsyncTypebox, type TSchema } from '@fastify/type-provider-typebox';
import { secretHashField, secretSetField, withDefaults, type DataKind } from '../../services/data/data-kind.js';
import { Domain } from '../../services/data/fields.js';
import { DATA_KINDS } from '../../services/data/kinds.js';
import { hashPin } from '../../services/data/pin.js';
import { ConflictError, type Store } from '../../store/types.js';
import { badRequest, conflict, ErrorResponse, notFound } from '../errors.js';
import type { ResourcePluginOptions } from './plugin-options.js';

type Body = Record<string, unknown>;
type TypeBoxApp = Parameters<FastifyPluginAsyncTypebox<ResourcePluginOptions>>[0];

const DomainQuery = Type.Object({ domain: Type.Optional(Domain) });

/** The request and response schemas of one kind, all generated from its fields so the OpenAPI document shows every one. */
function schemasOf(kind: DataKind) {
  const fields = kind.fields.properties as Record<string, TSchema>;
  const readFields: Record<string, TSchema> = { domain: Type.String({ description: 'the domain the item belongs to' }), [kind.key]: kind.keySchema };
  for (const [name, schema] of Object.entries(Type.Required(kind.fields).properties as Record<string, TSchema>)) {
    if (kind.secrets.includes(name)) readFields[secretSetField(name)] = Type.Boolean({ description: `whether a ${name} is set` });
    else readFields[name] = schema;
  }
  // A default in a PATCH schema would reset the fields the patch leaves out.
  const patchFields = Object.fromEntries(Object.entries(fields).map(([name, schema]) => {
    const { default: _ignored, ...withoutDefault } = schema as TSchema & { default?: unknown };
    return [name, Type.Optional(withoutDefault as TSchema)];
  }));
  return {
    view: Type.Object(readFields),
    create: Type.Object({ [kind.key]: kind.keySchema, domain: Type.Optional(Domain), ...fields }, { additionalProperties: false }),
    replace: kind.fields,
    patch: Type.Object(patchFields, { additionalProperties: false }),
    params: Type.Object({ [kind.key]: kind.keySchema }),
  };
}

/** Replaces each PIN given with its hash (null stays null: no PIN); a PIN left out stays out. */
async function hashSecrets(kind: DataKind, written: Body): Promise<Body> {
  const body = { ...written };
  for (const secret of kind.secrets) {
    if (!(secret in body)) continue;
    const pin = body[secret] as string | null;
    delete body[secret];
    body[secretHashField(secret)] = pin === null ? null : await hashPin(pin);
  }
  return body;
}

/** The PIN hashes of a stored document, kept by a PUT that leaves the PINs out. */
function secretHashesOf(kind: DataKind, body: Body): Body {
  return Object.fromEntries(kind.secrets.map((secret) => [secretHashField(secret), body[secretHashField(secret)] ?? null]));
}

function describe(kind: DataKind, domain: string, key: string, body: Body): Body {
  const shown: Body = { domain, [kind.key]: key, ...withDefaults(kind, body) };
  for (const secret of kind.secrets) {
    const hash = secretHashField(secret);
    shown[secretSetField(secret)] = typeof shown[hash] === 'string';
    delete shown[hash];
  }
  return shown;
}

function without(body: Body, ...names: string[]): Body {
  const rest = { ...body };
  for (const name of names) delete rest[name];
  return rest;
}

interface KindRouteContext {
  app: TypeBoxApp;
  store: Store;
  kind: DataKind;
  domainOf(given: unknown): string;
}

function check(context: KindRouteContext, body: Body, domain: string): void {
  const problem = context.kind.check?.(body, { store: context.store, domain });
  if (problem) throw badRequest(problem);
}

/** POST, list, GET, PUT, PATCH and DELETE of items named by a key within their domain. */
function addDomainItemRoutes(context: KindRouteContext): void {
  const { app, store, kind, domainOf } = context;
  const schemas = schemasOf(kind);
  const itemPath = `${kind.path}/:${kind.key}`;
  const tags = [kind.kind];
  const notFoundError = (key: string, domain: string) => notFound(`no ${kind.noun} ${key} in ${domain}`);
  const target = (request: { params: unknown; query: unknown }) => ({
    key: (request.params as Body)[kind.key] as string,
    domain: domainOf((request.query as Body).domain),
  });
  // Checked and written in one synchronous step, after any PIN hashing, so no other request slips in between.
  const replaceExisting = (key: string, domain: string, merge: (previous: Body) => Body) => store.transaction(() => {
    const previous = store.serviceData.get(domain, kind.kind, key);
    if (!previous) throw notFoundError(key, domain);
    const body = merge(previous.body);
    check(context, body, domain);
    return describe(kind, domain, key, store.serviceData.put(domain, kind.kind, key, body).body);
  });

  app.post(kind.path, {
    schema: {
      summary: `Create a ${kind.noun}`,
      description: kind.description,
      tags,
      body: schemas.create,
      response: { 201: schemas.view, 400: ErrorResponse, 409: ErrorResponse },
    },
  }, async (request, reply) => {
    const written = request.body as Body;
    const domain = domainOf(written.domain);
    if (!store.domains.get(domain)) throw badRequest(`domain: no such domain "${domain}"`);
    const key = written[kind.key] as string;
    const body = { ...secretHashesOf(kind, {}), ...await hashSecrets(kind, without(written, kind.key, 'domain')) };
    check(context, body, domain);
    try {
      return reply.code(201).send(describe(kind, domain, key, store.serviceData.create(domain, kind.kind, key, body).body));
    } catch (error) {
      if (error instanceof ConflictError) throw conflict(`${kind.noun} ${key}@${domain} already exists`);
      throw error;
    }
  });

  app.get(kind.path, {
    schema: {
      summary: `List ${kind.noun} items (?domain= for one domain)`,
      description: kind.description,
      tags,
      querystring: DomainQuery,
      response: { 200: Type.Array(schemas.view), 400: ErrorResponse },
    },
  }, async (request) => {
    const { domain } = request.query as Body;
    return store.serviceData.list(domain === undefined ? undefined : domainOf(domain), kind.kind)
      .map((item) => describe(kind, item.domain, item.key, item.body));
  });

  app.get(itemPath, {
    schema: {
      summary: `Get one ${kind.noun} (?domain=, default the default domain)`,
      tags,
      params: schemas.params,
      querystring: DomainQuery,
      response: { 200: schemas.view, 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request) => {
    const { key, domain } = target(request);
    const item = store.serviceData.get(domain, kind.kind, key);
    if (!item) throw notFoundError(key, domain);
    return describe(kind, domain, key, item.body);
  });

  app.put(itemPath, {
    schema: {
      summary: `Replace a ${kind.noun}: fields left out take their defaults (a PIN left out is kept)`,
      tags,
      params: schemas.params,
      querystring: DomainQuery,
      body: schemas.replace,
      response: { 200: schemas.view, 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request) => {
    const { key, domain } = target(request);
    const written = await hashSecrets(kind, request.body as Body);
    return replaceExisting(key, domain, (previous) => ({ ...secretHashesOf(kind, previous), ...written }));
  });

  app.patch(itemPath, {
    schema: {
      summary: `Change some fields of a ${kind.noun}: fields left out keep their value, an object given replaces the whole field`,
      tags,
      params: schemas.params,
      querystring: DomainQuery,
      body: schemas.patch,
      response: { 200: schemas.view, 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request) => {
    const { key, domain } = target(request);
    const written = await hashSecrets(kind, request.body as Body);
    return replaceExisting(key, domain, (previous) => ({ ...previous, ...written }));
  });

  app.delete(itemPath, {
    schema: {
      summary: `Delete a ${kind.noun}`,
      tags,
      params: schemas.params,
      querystring: DomainQuery,
      response: { 204: Type.Null(), 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request, reply) => {
    const { key, domain } = target(request);
    if (!store.serviceData.delete(domain, kind.kind, key)) throw notFoundError(key, domain);
    return reply.code(204).send(null);
  });
}

/** GET, PUT and PATCH of the one item every extension has: the defaults until the first write. */
function addExtensionItemRoutes(context: KindRouteContext): void {
  const { app, store, kind, domainOf } = context;
  const schemas = schemasOf(kind);
  const tags = [kind.kind];
  // The extension is looked up again inside the write's transaction: it may be deleted while a request waits.
  const extensionOf = (request: { params: unknown; query: unknown }) => {
    const number = (request.params as Body)[kind.key] as string;
    const domain = domainOf((request.query as Body).domain);
    if (!store.extensions.find(domain, number)) throw notFound(`no extension ${number} in ${domain}`);
    return { number, domain };
  };
  const write = (number: string, domain: string, merge: (previous: Body) => Body) => store.transaction(() => {
    if (!store.extensions.find(domain, number)) throw notFound(`no extension ${number} in ${domain}`);
    const body = merge(withDefaults(kind, store.serviceData.get(domain, kind.kind, number)?.body ?? {}));
    check(context, body, domain);
    return describe(kind, domain, number, store.serviceData.put(domain, kind.kind, number, body).body);
  });

  app.get(kind.path, {
    schema: {
      summary: `Get the ${kind.noun} of an extension (?domain=, default the default domain)`,
      description: kind.description,
      tags,
      params: schemas.params,
      querystring: DomainQuery,
      response: { 200: schemas.view, 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request) => {
    const { number, domain } = extensionOf(request);
    return describe(kind, domain, number, store.serviceData.get(domain, kind.kind, number)?.body ?? {});
  });

  app.put(kind.path, {
    schema: {
      summary: `Replace the ${kind.noun} of an extension: fields left out take their defaults`,
      description: kind.description,
      tags,
      params: schemas.params,
      querystring: DomainQuery,
      body: schemas.replace,
      response: { 200: schemas.view, 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request) => {
    const { number, domain } = extensionOf(request);
    const written = await hashSecrets(kind, request.body as Body);
    return write(number, domain, (previous) => ({ ...secretHashesOf(kind, previous), ...written }));
  });

  app.patch(kind.path, {
    schema: {
      summary: `Change some of the ${kind.noun} of an extension: fields left out keep their value, an object given replaces the whole field`,
      tags,
      params: schemas.params,
      querystring: DomainQuery,
      body: schemas.patch,
      response: { 200: schemas.view, 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request) => {
    const { number, domain } = extensionOf(request);
    const written = await hashSecrets(kind, request.body as Body);
    return write(number, domain, (previous) => ({ ...previous, ...written }));
  });
}

/** The services' data: one set of routes per kind in src/services/data/kinds.ts. */
export const serviceDataRoutes: FastifyPluginAsyncTypebox<ResourcePluginOptions> = async (app, { store, runtime }) => {
  const domainOf = (given: unknown) => (typeof given === 'string' ? given : runtime.defaultDomain()).toLowerCase();
  for (const kind of DATA_KINDS) {
    const context: KindRouteContext = { app, store, kind, domainOf };
    if (kind.scope === 'domain') addDomainItemRoutes(context);
    else addExtensionItemRoutes(context);
  }
};
