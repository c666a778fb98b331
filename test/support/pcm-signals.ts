// Test audio built in memory: sines and the joining of frames into one buffer.

/** `samples` of a sine of peak `amplitude`, starting at phase 0. */
export function sine(frequency: number, sampleRate: number, samples: number, amplitude: number): Int16Array {
  return Int16Array.from({ length: samples }, (_, i) =>
    Math.round(amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate)),
  );
}

/** The frames one after another in a single buffer. */
export function concat(frames: readonly Int16Array[]): Int16Array {
  const all = new Int16Array(frames.reduce((sum, f) => sum + f.length, 0));
  let offset = 0;
  for (const f of frames) {
    all.set(f, offset);
    offset += f.length;
  }
  return all;
}
