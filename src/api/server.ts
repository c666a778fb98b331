import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyHttpsOptions, type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Store } from '../store/types.js';
import { createAuthenticator } from './authentication.js';
import { ErrorResponse, formatSchemaError, handleError, handleNotFound } from './errors.js';
import { startHttpsRedirect, stopServer } from './https-redirect.js';
import { listenError } from './listen-error.js';
import { callRecordRoutes } from './routes/call-records.js';
import { callRoutes } from './routes/calls.js';
import { domainRoutes } from './routes/domains.js';
import { extensionRoutes } from './routes/extensions.js';
import { healthRoutes } from './routes/health.js';
import type { ResourcePluginOptions } from './routes/plugin-options.js';
import { registrationRoutes } from './routes/registrations.js';
import { serviceDataRoutes } from './routes/service-data.js';
import { serviceNumberRoutes } from './routes/service-numbers.js';
import { serviceRoutes } from './routes/services.js';
import { tokenRoutes } from './routes/tokens.js';
import type { ApiRuntime } from './runtime.js';

export type ApiLogger = Logger | false;

export interface ApiServerOptions {
  store: Store;
  runtime: ApiRuntime;
  bind: string;
  httpsPort: number;
  /** 0 = off; plain HTTP only redirects (301) to HTTPS */
  httpPort: number;
  tls: { key: string; cert: string };
  logger?: ApiLogger;
}

export interface ApiDependencies {
  store: Store;
  runtime: ApiRuntime;
  logger?: ApiLogger;
}

const API_PREFIX = '/api/v1';
const PROTECTED_RESOURCES = [
  tokenRoutes, domainRoutes, extensionRoutes, registrationRoutes, callRoutes, callRecordRoutes,
  serviceRoutes, serviceNumberRoutes, serviceDataRoutes,
];

function fastifyOptions(logger: ApiLogger | undefined): Pick<FastifyServerOptions, 'logger' | 'loggerInstance' | 'ajv' | 'schemaErrorFormatter'> {
  return {
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    // verbose hands the field's schema to formatSchemaError; unknown fields are refused rather than silently dropped.
    ajv: { customOptions: { verbose: true, removeAdditional: false } },
    schemaErrorFormatter: formatSchemaError,
  };
}

// Every protected operation can answer 401; saying so once here keeps the route files about their resource.
function documentUnauthorized(route: RouteOptions): void {
  const schema = route.schema ?? {};
  route.schema = { ...schema, response: { ...(schema.response as object | undefined), 401: ErrorResponse } };
}

async function addRoutes(app: FastifyInstance, { store, runtime }: ApiDependencies): Promise<void> {
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchboard API',
        version: runtime.version,
        description: 'Administration of the Switchboard SIP server: extensions, registrations, calls, call records, and the call services with their numbers and data.',
      },
      components: {
        securitySchemes: {
          basicAuth: { type: 'http', scheme: 'basic', description: 'user "admin" and the admin password' },
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'a token created with POST /api/v1/tokens' },
        },
      },
      security: [{ basicAuth: [] }, { bearerAuth: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const deps: ResourcePluginOptions = { store, runtime };
  await app.register(healthRoutes, { ...deps, prefix: API_PREFIX });
  await app.register(async (protectedApi) => {
    protectedApi.addHook('onRoute', documentUnauthorized);
    protectedApi.addHook('onRequest', createAuthenticator(store));
    for (const resource of PROTECTED_RESOURCES) await protectedApi.register(resource, deps);
  }, { prefix: API_PREFIX });
}

/** The whole API without listening, for tests that use inject. */
export async function buildApi(deps: ApiDependencies): Promise<FastifyInstance> {
  const app = Fastify(fastifyOptions(deps.logger)).withTypeProvider<TypeBoxTypeProvider>();
  await addRoutes(app, deps);
  await app.ready();
  return app;
}

export async function startApiServers(opts: ApiServerOptions): Promise<{ close(): Promise<void>; httpsPort: number; httpPort: number }> {
  const httpsOptions: FastifyHttpsOptions<HttpsServer> = { ...fastifyOptions(opts.logger), https: opts.tls };
  const app = Fastify(httpsOptions).withTypeProvider<TypeBoxTypeProvider>();
  await addRoutes(app as unknown as FastifyInstance, opts);
  try {
    await app.listen({ host: opts.bind, port: opts.httpsPort });
  } catch (error) {
    await app.close();
    throw listenError('HTTPS', opts.bind, opts.httpsPort, error);
  }
  const httpsPort = (app.server.address() as { port: number }).port;
  let redirect: Server | undefined;
  if (opts.httpPort !== 0) {
    try {
      redirect = await startHttpsRedirect(opts.bind, opts.httpPort, httpsPort);
    } catch (error) {
      await app.close();
      throw error;
    }
  }
  const httpPort = redirect ? (redirect.address() as { port: number }).port : 0;
  return {
    httpsPort,
    httpPort,
    close: async () => {
      await Promise.all([app.close(), redirect && stopServer(redirect)]);
    },
  };
}
