// Checks what a script passed to a host function, so a mistake reads as a Lua error naming the
// function and the argument ("call.play: option interrupt must be a string of keys") at the script's line.
import type { HostValue } from '../engine/protocol.js';

export type HostOptions = { [key: string]: HostValue };

export class HostArgs {
  constructor(
    private readonly fn: string,
    private readonly args: readonly HostValue[],
  ) {}

  fail(message: string): never {
    throw new Error(`${this.fn}: ${message}`);
  }

  string(index: number, what: string): string {
    const value = this.args[index];
    if (typeof value === 'string') return value;
    if (typeof value === 'number') return String(value);
    return this.fail(`argument ${index + 1} (${what}) must be a string, not ${describe(value)}`);
  }

  optionalString(index: number, what: string): string | undefined {
    return this.args[index] === null || this.args[index] === undefined ? undefined : this.string(index, what);
  }

  integer(index: number, what: string, min: number, max: number): number {
    const value = this.args[index];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return this.fail(`argument ${index + 1} (${what}) must be a whole number from ${min} to ${max}, not ${describe(value)}`);
    }
    return value;
  }

  /** A number from min to max; `fallback` when the argument is absent. */
  number(index: number, what: string, fallback: number, min: number, max: number): number {
    const value = this.args[index];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      return this.fail(`argument ${index + 1} (${what}) must be a number from ${min} to ${max}, not ${describe(value)}`);
    }
    return value;
  }

  boolean(index: number, what: string): boolean {
    const value = this.args[index];
    if (typeof value !== 'boolean') return this.fail(`argument ${index + 1} (${what}) must be true or false, not ${describe(value)}`);
    return value;
  }

  /** A name or a list of names: `"goodbye"` or `{"vm-you-have", "digit-3"}`. */
  names(index: number, what: string): string[] {
    const value = this.args[index];
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return value as string[];
    return this.fail(`argument ${index + 1} (${what}) must be a name or a list of names, not ${describe(value)}`);
  }

  /** The table of options at `index`, {} when absent. */
  options(index: number): Options {
    const value = this.args[index];
    if (value === null || value === undefined) return new Options(this, {});
    if (typeof value !== 'object' || Array.isArray(value)) return this.fail(`argument ${index + 1} must be a table of options, not ${describe(value)}`);
    return new Options(this, value);
  }
}

export class Options {
  constructor(
    private readonly args: HostArgs,
    private readonly values: HostOptions,
  ) {}

  number(name: string, fallback: number, min: number, max: number): number {
    const value = this.values[name];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      return this.args.fail(`option ${name} must be a number from ${min} to ${max}, not ${describe(value)}`);
    }
    return value;
  }

  optionalNumber(name: string, min: number, max: number): number | undefined {
    const value = this.values[name];
    return value === undefined || value === null ? undefined : this.number(name, min, min, max);
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.values[name];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') return this.args.fail(`option ${name} must be true or false, not ${describe(value)}`);
    return value;
  }

  /** Keys such as "#" or "0123456789*#". */
  keys(name: string, fallback: string): string {
    const value = this.values[name];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string' || !/^[0-9*#A-D]*$/.test(value)) {
      return this.args.fail(`option ${name} must be a string of keys (0-9 * # A-D), not ${describe(value)}`);
    }
    return value;
  }

  /** The table as given, for a function that checks it whole. */
  raw(): HostOptions {
    return this.values;
  }

  names(name: string): string[] {
    const value = this.values[name];
    if (value === undefined || value === null) return [];
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
    return this.args.fail(`option ${name} must be a name or a list of names, not ${describe(value)}`);
  }
}

function describe(value: HostValue | undefined): string {
  if (value === undefined || value === null) return 'nil';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a table';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}...` : value}"`;
  return String(value);
}
