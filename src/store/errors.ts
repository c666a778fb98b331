// Store errors beyond ConflictError (types.ts), so the API can answer each with its own status.

/** An extension was created in a domain that does not exist. */
export class UnknownDomainError extends Error {}
