import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { computeHa1 } from '../../auth/ha1.js';
import { callSettings } from '../../services/data/kinds.js';
import { ConflictError, type Extension, type ExtensionPatch } from '../../store/types.js';
import { badRequest, conflict, ErrorResponse, notFound } from '../errors.js';
import type { ResourcePluginOptions } from './plugin-options.js';

const ExtensionNumber = Type.String({ pattern: '^[A-Za-z0-9._+-]{1,32}$', description: '1-32 characters of digits, letters, . _ - +' });
const Password = Type.String({ minLength: 6, maxLength: 128, description: '6-128 characters' });
const DisplayName = Type.String({ maxLength: 100, description: 'at most 100 characters' });
const Domain = Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]-]{1,253}$', description: 'a host name or IP address' });
const Settings = Type.Record(Type.String(), Type.Unknown(), { description: 'free-form per-extension settings' });
const directMediaDescription =
  'let audio go straight between the phones, bypassing the relay, when both extensions allow it and neither phone is behind NAT';
const DirectMedia = Type.Boolean({ description: directMediaDescription });

const ExtensionView = Type.Object({
  id: Type.Integer(),
  domain: Type.String(),
  number: Type.String(),
  displayName: Type.String(),
  settings: Settings,
  directMedia: DirectMedia,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const NewExtensionBody = Type.Object({
  number: ExtensionNumber,
  password: Password,
  displayName: Type.Optional(DisplayName),
  domain: Type.Optional(Domain),
  settings: Type.Optional(Settings),
  directMedia: Type.Optional(Type.Boolean({ description: directMediaDescription, default: false })),
}, { additionalProperties: false });

const ExtensionPatchBody = Type.Object({
  displayName: Type.Optional(DisplayName),
  password: Type.Optional(Password),
  settings: Type.Optional(Settings),
  directMedia: Type.Optional(DirectMedia),
}, { additionalProperties: false });

const ExtensionParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const ExtensionListQuery = Type.Object({ domain: Type.Optional(Domain) });

/** The only shape in which an extension leaves the API: no password, no HA1. */
function describe(extension: Extension) {
  return {
    id: extension.id,
    domain: extension.domain,
    number: extension.number,
    displayName: extension.displayName,
    settings: extension.settings,
    directMedia: extension.directMedia,
    createdAt: new Date(extension.createdAt).toISOString(),
    updatedAt: new Date(extension.updatedAt).toISOString(),
  };
}

// The digest realm is the domain, and the username is the extension number.
function digestHashes(number: string, domain: string, password: string) {
  return { ha1Md5: computeHa1('MD5', number, domain, password), ha1Sha256: computeHa1('SHA-256', number, domain, password) };
}

export const extensionRoutes: FastifyPluginAsyncTypebox<ResourcePluginOptions> = async (app, { store, runtime }) => {
  const notFoundError = (id: number) => notFound(`no extension with id ${id}`);

  app.post('/extensions', {
    schema: {
      summary: 'Create an extension',
      tags: ['extensions'],
      body: NewExtensionBody,
      response: { 201: ExtensionView, 400: ErrorResponse, 409: ErrorResponse },
    },
  }, async (request, reply) => {
    const { number, password, displayName, settings, directMedia } = request.body;
    const domain = (request.body.domain ?? runtime.defaultDomain()).toLowerCase();
    if (!store.domains.get(domain)) throw badRequest(`domain: no such domain "${domain}"`);
    const serviceNumber = store.serviceNumbers.find(domain, number);
    if (serviceNumber) throw conflict(`${number}@${domain} is a service number (service ${serviceNumber.service})`);
    try {
      const created = store.extensions.create({ domain, number, displayName, settings, directMedia, ...digestHashes(number, domain, password) });
      return reply.code(201).send(describe(created));
    } catch (error) {
      if (error instanceof ConflictError) throw conflict(`extension ${number}@${domain} already exists`);
      throw error;
    }
  });

  app.get('/extensions', {
    schema: { summary: 'List extensions', tags: ['extensions'], querystring: ExtensionListQuery, response: { 200: Type.Array(ExtensionView), 400: ErrorResponse } },
  }, async (request) => store.extensions.list(request.query.domain?.toLowerCase()).map(describe));

  app.get('/extensions/:id', {
    schema: { summary: 'Get one extension', tags: ['extensions'], params: ExtensionParams, response: { 200: ExtensionView, 404: ErrorResponse } },
  }, async (request) => {
    const extension = store.extensions.get(request.params.id);
    if (!extension) throw notFoundError(request.params.id);
    return describe(extension);
  });

  app.patch('/extensions/:id', {
    schema: {
      summary: 'Change display name, password, settings or direct media',
      tags: ['extensions'],
      params: ExtensionParams,
      body: ExtensionPatchBody,
      response: { 200: ExtensionView, 400: ErrorResponse, 404: ErrorResponse },
    },
  }, async (request) => {
    const { id } = request.params;
    const existing = store.extensions.get(id);
    if (!existing) throw notFoundError(id);
    const { displayName, password, settings, directMedia } = request.body;
    const patch: ExtensionPatch = {
      ...(displayName === undefined ? {} : { displayName }),
      ...(settings === undefined ? {} : { settings }),
      ...(directMedia === undefined ? {} : { directMedia }),
      ...(password === undefined ? {} : digestHashes(existing.number, existing.domain, password)),
    };
    const updated = store.extensions.update(id, patch);
    if (!updated) throw notFoundError(id);
    return describe(updated);
  });

  app.delete('/extensions/:id', {
    schema: { summary: 'Delete an extension, its registrations and its call settings', tags: ['extensions'], params: ExtensionParams, response: { 204: Type.Null(), 404: ErrorResponse } },
  }, async (request, reply) => {
    const { id } = request.params;
    const existing = store.extensions.get(id);
    if (!existing) throw notFoundError(id);
    const deleted = store.transaction(() => {
      store.serviceData.delete(existing.domain, callSettings.kind, existing.number);
      return store.extensions.delete(id);
    });
    if (!deleted) throw notFoundError(id);
    runtime.onExtensionDeleted(existing.domain, existing.number);
    return reply.code(204).send(null);
  });
};
