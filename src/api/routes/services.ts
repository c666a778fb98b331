import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServiceStatus } from '../../services/engine/service-status.js';
import { ErrorResponse, notFound } from '../errors.js';
import type { ResourcePluginOptions } from './plugin-options.js';

const FailureKind = Type.Enum(['error', 'timeout', 'memory', 'crashed', 'unresponsive', 'unavailable'], {
  description: 'error: the script raised one; timeout: one step ran too long; memory: the VM hit its limit; crashed: the worker died; unresponsive: the watchdog stopped the worker; unavailable: the service never loaded',
});

const ServiceView = Type.Object({
  name: Type.String({ description: 'the file lua/services/<name>.lua' }),
  origin: Type.Enum(['builtin', 'data-dir'], { description: 'builtin: shipped with Switchboard; data-dir: <data-dir>/lua/services, which overrides a built-in of the same name' }),
  file: Type.String({ description: 'the script being run' }),
  version: Type.String({ description: 'first 12 hex digits of the SHA-256 of the running source' }),
  loadedAt: Type.String({ format: 'date-time', description: 'when the running source was loaded' }),
  state: Type.Enum(['running', 'restarting', 'failed'], { description: 'restarting: the worker is being replaced after a failure; failed: it cannot serve calls' }),
  activeCalls: Type.Integer({ description: 'calls the service is handling now' }),
  restarts: Type.Integer({ description: 'workers replaced after a crash, a watchdog kill or a memory failure' }),
  memoryBytes: Type.Integer({ description: 'what the Lua VM held at the last watchdog check' }),
  lastFailure: Type.Union([
    Type.Object({ at: Type.String({ format: 'date-time' }), kind: FailureKind, message: Type.String() }),
    Type.Null(),
  ], { description: 'the latest call the service failed; null: none since start' }),
  loadError: Type.Union([Type.String(), Type.Null()], { description: 'why the last edit of the file did not load ("file.lua:12: ..."); the previous version keeps serving' }),
});

const ServiceParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });

function describe(status: ServiceStatus) {
  return {
    ...status,
    loadedAt: new Date(status.loadedAt).toISOString(),
    lastFailure: status.lastFailure && { ...status.lastFailure, at: new Date(status.lastFailure.at).toISOString() },
  };
}

/** The Lua call services as the engine runs them: read only; their scripts are files. */
export const serviceRoutes: FastifyPluginAsyncTypebox<ResourcePluginOptions> = async (app, { runtime }) => {
  app.get('/services', {
    schema: { summary: 'List the Lua services and their state', tags: ['services'], response: { 200: Type.Array(ServiceView) } },
  }, async () => runtime.services().map(describe));

  app.get('/services/:name', {
    schema: { summary: 'One Lua service', tags: ['services'], params: ServiceParams, response: { 200: ServiceView, 404: ErrorResponse } },
  }, async (request) => {
    const status = runtime.services().find((service) => service.name === request.params.name);
    if (!status) throw notFound(`no service named ${request.params.name}`);
    return describe(status);
  });
};
