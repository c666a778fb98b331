import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import { callRecordsToCsv } from '../../store/cdr-csv.js';
import type { CallRecord, CallRecordFilter, EndReason, Store } from '../../store/types.js';
import { badRequest, ErrorResponse } from '../errors.js';
import type { ResourcePluginOptions } from './plugin-options.js';

const DISPOSITIONS = ['answered', 'busy', 'no_answer', 'cancelled', 'failed'] as const;
const MAX_PAGE = 1000;

// A Record rather than a list, so a reason added to EndReason cannot go undocumented here.
const END_REASON_MEANINGS: Record<EndReason, string> = {
  media_timeout: 'no RTP or RTCP from either party for [media] timeout seconds',
  ack_timeout: 'the caller never acknowledged the answer',
  hangup_api: 'ended with DELETE /api/v1/calls/{id}',
  shutdown: 'the server stopped',
};
const END_REASONS = Object.keys(END_REASON_MEANINGS) as EndReason[];
const endReasonMeanings = END_REASONS.map((reason) => `${reason}: ${END_REASON_MEANINGS[reason]}`).join('; ');

const CallRecordView = Type.Object({
  id: Type.Integer(),
  callId: Type.String(),
  domain: Type.String(),
  caller: Type.String(),
  callee: Type.String(),
  startedAt: Type.String({ format: 'date-time' }),
  answeredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  endedAt: Type.String({ format: 'date-time' }),
  durationSeconds: Type.Number(),
  disposition: Type.Enum(DISPOSITIONS),
  finalStatus: Type.Integer(),
  hangupBy: Type.Union([Type.Enum(['caller', 'callee', 'system']), Type.Null()]),
  endReason: Type.Union([Type.Enum(END_REASONS), Type.Null()], {
    description: `why the system ended the call, null for an ordinary end. ${endReasonMeanings}`,
  }),
});

const CallRecordPage = Type.Object({ total: Type.Integer(), items: Type.Array(CallRecordView) });

const timestamp = (meaning: string) => Type.String({ description: `${meaning}; ISO 8601, UTC when it has no offset` });

const CallRecordQuery = Type.Object({
  caller: Type.Optional(Type.String({ maxLength: 128 })),
  callee: Type.Optional(Type.String({ maxLength: 128 })),
  domain: Type.Optional(Type.String({ maxLength: 253 })),
  disposition: Type.Optional(Type.Enum(DISPOSITIONS)),
  endReason: Type.Optional(Type.Enum(END_REASONS, { description: 'calls the system ended for this reason' })),
  from: Type.Optional(timestamp('calls started at or after this time')),
  to: Type.Optional(timestamp('calls started before this time')),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, description: `page size, default 100 (1-${MAX_PAGE}); without it the CSV holds every match` })),
  offset: Type.Optional(Type.Integer({ minimum: 0, description: 'records to skip' })),
});

type CallRecordQuery = Static<typeof CallRecordQuery>;

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** Epoch milliseconds, or a 400 naming the field. */
function parseTimestamp(field: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = ISO_8601.exec(text);
  // Date.parse reads a date-time without offset as server-local time; results must not depend on the server's zone.
  const pinned = match && text.includes('T') && match[1] === undefined ? `${text}Z` : text;
  const ms = match ? Date.parse(pinned) : NaN;
  if (Number.isNaN(ms)) throw badRequest(`${field}: must be an ISO 8601 timestamp such as 2024-05-01T08:00:00Z`);
  return ms;
}

function toFilter(query: CallRecordQuery): CallRecordFilter {
  return {
    caller: query.caller,
    callee: query.callee,
    domain: query.domain?.toLowerCase(),
    disposition: query.disposition,
    endReason: query.endReason,
    from: parseTimestamp('from', query.from),
    to: parseTimestamp('to', query.to),
    limit: query.limit,
    offset: query.offset,
  };
}

function describe(record: CallRecord) {
  return {
    ...record,
    startedAt: new Date(record.startedAt).toISOString(),
    answeredAt: record.answeredAt === null ? null : new Date(record.answeredAt).toISOString(),
    endedAt: new Date(record.endedAt).toISOString(),
  };
}

/** An export wants every match, so without a limit the store is read page by page. */
function allMatching(store: Store, filter: CallRecordFilter): CallRecord[] {
  if (filter.limit !== undefined) return store.callRecords.query(filter).items;
  const records: CallRecord[] = [];
  for (let offset = filter.offset ?? 0; ; offset += MAX_PAGE) {
    const page = store.callRecords.query({ ...filter, limit: MAX_PAGE, offset });
    records.push(...page.items);
    if (page.items.length < MAX_PAGE) return records;
  }
}

export const callRecordRoutes: FastifyPluginAsyncTypebox<ResourcePluginOptions> = async (app, { store }) => {
  app.get('/call-records', {
    schema: {
      summary: 'Search call detail records, newest first',
      tags: ['call records'],
      querystring: CallRecordQuery,
      response: { 200: CallRecordPage, 400: ErrorResponse },
    },
  }, async (request) => {
    const { total, items } = store.callRecords.query(toFilter(request.query));
    return { total, items: items.map(describe) };
  });

  app.get('/call-records.csv', {
    schema: {
      summary: 'Export call detail records as CSV (same filters)',
      tags: ['call records'],
      querystring: CallRecordQuery,
      produces: ['text/csv'],
      response: { 200: Type.String({ description: 'CSV with a header row' }), 400: ErrorResponse },
    },
  }, async (request, reply) => {
    const csv = callRecordsToCsv(allMatching(store, toFilter(request.query)));
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="call-records.csv"')
      .send(csv);
  });
};
