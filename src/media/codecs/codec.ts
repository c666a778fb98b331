// The one shape every audio codec has, so the player, recorder, mixer and DTMF detector work on
// 16-bit linear PCM frames and never care which codec a leg negotiated.

/** One direction of one codec on one leg: encoders and decoders may keep state (G.722 is adaptive). */
export interface CodecInstance {
  /** the SDP encoding name, upper case: PCMU, PCMA, G722 */
  readonly name: string;
  /** rate of the PCM the codec takes and gives, in Hz (8000 for G.711, 16000 for G.722) */
  readonly sampleRate: number;
  /** rate of the RTP timestamp, in Hz (8000 for G.722 too, RFC 3551 §4.5.2) */
  readonly clockRate: number;
  /** Encodes `count` samples of `pcm` into `out`; returns the payload length in bytes. */
  encode(pcm: Int16Array, count: number, out: Uint8Array): number;
  /** Decodes `length` bytes of `payload` into `out`; returns the number of samples written. */
  decode(payload: Uint8Array, length: number, out: Int16Array): number;
}

/** A codec by SDP name, with the static payload type RFC 3551 gives it. */
export interface CodecFactory {
  readonly name: string;
  readonly staticPayloadType: number;
  readonly sampleRate: number;
  readonly clockRate: number;
  create(): CodecInstance;
}
