/** What the scenarios need from a SIP server being measured (Switchboard or the Kamailio reference). */
export interface ServerUnderTest {
  readonly name: string;
  readonly sipPort: number;
  /** Every process whose CPU counts as the server's. */
  pids(): number[];
  /** The process whose RSS is the server's memory, when that is meaningful. */
  readonly memoryPid?: number;
  /** Makes users known with the bench's passwords (password of user U is `passwordOf(U)`). */
  provision(users: readonly string[]): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

export const passwordOf = (user: string) => `Pw-${user}-Zx9`;
