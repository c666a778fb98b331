import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ParkSlots } from '../../src/call/park-slots.js';

describe('ParkSlots', () => {
  const call = (domain: string) => ({ domain });

  it('holds one call per slot and domain', () => {
    const slots = new ParkSlots<{ domain: string }>();
    const a = call('a.example');
    const b = call('b.example');
    assert.equal(slots.park(a, '5'), true);
    assert.equal(slots.park(call('a.example'), '5'), false, 'the slot is taken');
    assert.equal(slots.park(b, '5'), true, 'another domain has its own slot 5');
    assert.equal(slots.unpark('a.example', '5'), a);
    assert.equal(slots.unpark('a.example', '5'), undefined, 'the slot is empty once taken');
    assert.equal(slots.unpark('b.example', '5'), b);
  });

  it('takes out only the given call when asked so, leaving a newer one in the slot', () => {
    const slots = new ParkSlots<{ domain: string }>();
    const first = call('a.example');
    const second = call('a.example');
    slots.park(first, '1');
    assert.equal(slots.unpark('a.example', '1', first), first);
    slots.park(second, '1');
    assert.equal(slots.unpark('a.example', '1', first), undefined);
    assert.equal(slots.unpark('a.example', '1'), second);
  });
});
