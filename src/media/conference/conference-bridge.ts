// Conference rooms by name: a room comes into being when first asked for and is closed and forgotten
// when its last party leaves, so the next call to that name opens a fresh one.
import type { Clock } from '../../transaction/clock.js';
import { ConferenceRoom, type ConferenceRoomOptions } from './conference-room.js';

/** Applied to every room the bridge opens. */
export type ConferenceBridgeOptions = Pick<ConferenceRoomOptions, 'maxParties' | 'tonePlan'>;

export interface ConferenceRoomSummary {
  readonly name: string;
  /** party ids, in the order they joined */
  readonly parties: string[];
}

export class ConferenceBridge {
  private readonly rooms = new Map<string, ConferenceRoom>();
  private isClosed = false;

  constructor(
    private readonly clock: Clock,
    private readonly options: ConferenceBridgeOptions = {},
  ) {}

  /**
   * The room called `name`, opened (with `options`) if there is none. Join it right away: once its last
   * party has left, this room is closed and the name belongs to a new one.
   */
  room(name: string, options: Pick<ConferenceRoomOptions, 'cues'> = {}): ConferenceRoom {
    if (this.isClosed) throw new Error('the conference bridge is closed');
    const existing = this.get(name);
    if (existing !== undefined) return existing;
    const room: ConferenceRoom = new ConferenceRoom(name, this.clock, {
      maxParties: this.options.maxParties,
      tonePlan: this.options.tonePlan,
      cues: options.cues,
      onEmpty: () => this.retire(room),
    });
    this.rooms.set(name, room);
    return room;
  }

  /** The open room called `name`, without opening one. */
  get(name: string): ConferenceRoom | undefined {
    const room = this.rooms.get(name);
    // A room closed directly, not through the bridge, is as good as gone.
    if (room?.closed) {
      this.rooms.delete(name);
      return undefined;
    }
    return room;
  }

  list(): ConferenceRoomSummary[] {
    const summaries: ConferenceRoomSummary[] = [];
    for (const room of this.rooms.values()) {
      if (!room.closed) summaries.push({ name: room.name, parties: room.parties() });
    }
    return summaries;
  }

  /** Closes every room; the bridge opens no more. */
  close(): void {
    this.isClosed = true;
    for (const room of this.rooms.values()) room.close();
    this.rooms.clear();
  }

  private retire(room: ConferenceRoom): void {
    room.close();
    if (this.rooms.get(room.name) === room) this.rooms.delete(room.name);
  }
}
