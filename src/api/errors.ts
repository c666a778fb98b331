import { Type } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError, FastifyServerOptions } from 'fastify';

type SchemaErrorDataVar = Parameters<NonNullable<FastifyServerOptions['schemaErrorFormatter']>>[1];

/** Every error the API returns has this one shape. */
export const ErrorResponse = Type.Object(
  { error: Type.String({ description: 'what went wrong, naming the field when a field is at fault' }) },
  { description: 'Error' },
);

/** An error whose message is meant for the client, thrown by route handlers. */
export class ApiError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
  }
}

export const badRequest = (message: string): ApiError => new ApiError(400, message);
export const notFound = (message: string): ApiError => new ApiError(404, message);
export const conflict = (message: string): ApiError => new ApiError(409, message);

interface VerboseValidationError extends FastifySchemaValidationError {
  parentSchema?: { description?: string };
}

// Keywords whose generic Ajv message ("must match pattern ^[A-Za-z...") says less than the field's description.
const DESCRIBED_KEYWORDS = new Set(['pattern', 'minLength', 'maxLength', 'format']);

/** Turns the first Ajv error into one sentence that names the field, e.g. "number: is required". */
export function formatSchemaError(errors: FastifySchemaValidationError[], dataVar: SchemaErrorDataVar): Error {
  const error = errors[0] as VerboseValidationError;
  const path = error.instancePath.split('/').filter(Boolean).join('.');
  const child = (name: unknown): string => (path ? `${path}.${String(name)}` : String(name));
  const field = path || dataVar;
  switch (error.keyword) {
    case 'required':
      return new Error(`${child(error.params.missingProperty)}: is required`);
    case 'additionalProperties':
      return new Error(`${child(error.params.additionalProperty)}: is not a known field`);
    case 'enum':
      return new Error(`${field}: must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`);
  }
  const description = error.parentSchema?.description;
  if (DESCRIBED_KEYWORDS.has(error.keyword) && description) return new Error(`${field}: must be ${description}`);
  return new Error(`${field}: ${error.message ?? 'is invalid'}`);
}

/** Client errors keep their message; anything unexpected is logged and hidden behind "internal error". */
export function handleError(error: FastifyError | ApiError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    void reply.code(status).send({ error: error.message });
    return;
  }
  request.log.error({ err: error }, 'request failed');
  void reply.code(500).send({ error: 'internal error' });
}

export function handleNotFound(request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}` });
}
