// The audio codecs the server can negotiate, looked up by their SDP encoding name.

import type { CodecFactory } from './codec.js';
import { PCMA, PCMU } from './g711.js';
import { G722 } from './g722.js';

/** Server preference order for offers and answers: G.711 first, as every SIP phone has it. */
export const AUDIO_CODECS: readonly CodecFactory[] = Object.freeze([PCMU, PCMA, G722]);

const BY_NAME = new Map(AUDIO_CODECS.map((codec) => [codec.name.toUpperCase(), codec]));

/** The codec for an SDP encoding name, which RFC 4566 makes case-insensitive. */
export function codecByName(name: string): CodecFactory | undefined {
  return BY_NAME.get(name.toUpperCase());
}
