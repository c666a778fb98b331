import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildBlaster, startBlaster, type CallPorts, type CallRelays } from './blaster.js';

const at = (port: number) => ({ address: '127.0.0.1', port });
/** Each leg's "relay" is the other leg's own port: a relay that adds nothing. */
const loopback = ({ callerPort, calleePort }: CallPorts): CallRelays => ({ callerRelay: at(calleePort), calleeRelay: at(callerPort) });

describe('rtp-blaster', { timeout: 60_000 }, () => {
  let dir: string;
  let binary: string;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rtp-blaster-test-'));
    binary = buildBlaster(dir);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('sends 50 packets a second each way per call and gets them all back over a loopback', async () => {
    const blaster = await startBlaster(binary, 3, 1, dir);
    assert.equal(blaster.ports.length, 3);
    assert.equal(new Set(blaster.ports.flatMap((p) => [p.callerPort, p.calleePort])).size, 6);
    // The middle call was not established: it carries no media.
    await blaster.go([loopback(blaster.ports[0]!), undefined, loopback(blaster.ports[2]!)]);
    const report = await blaster.report();
    assert.equal(report.calls, 2);
    assert.equal(report.streams, 4);
    assert.equal(report.expected, 4 * 50);
    assert.equal(report.sent, report.expected);
    assert.equal(report.received, report.sent);
    assert.equal(report.lost, 0);
    assert.equal(report.lossRatio, 0);
    assert.equal(report.foreign + report.malformed + report.duplicates + report.silentStreams + report.sendErrors, 0);
    assert.ok(report.delayUs.p50 >= 0 && report.delayUs.p50 <= report.delayUs.p99 && report.delayUs.p99 <= report.delayUs.max);
    assert.ok(report.addedJitterUs.p99 >= 0 && report.addedJitterUs.p99 <= report.delayUs.max);
    assert.ok(report.sendSeconds >= 0.98 && report.sendSeconds < 1.5, `sent for ${report.sendSeconds} s`);
  });

  it('counts the packets of a crossed call as foreign, and the ones it should have had as lost', async () => {
    const blaster = await startBlaster(binary, 2, 1, dir);
    const [first, second] = blaster.ports as [CallPorts, CallPorts];
    // The first caller's packets go to the second call's callee, as a relay mixing up its calls would send them.
    await blaster.go([{ callerRelay: at(second.calleePort), calleeRelay: at(first.callerPort) }, loopback(second)]);
    const report = await blaster.report();
    assert.equal(report.sent, 4 * 50);
    assert.equal(report.foreign, 50);
    assert.equal(report.lost, 50);
    assert.equal(report.received, 150);
    assert.equal(report.silentStreams, 1);
    assert.equal(report.lossRatio, 50 / 200);
  });

  it('refuses relay addresses that are not IPv4', async () => {
    const blaster = await startBlaster(binary, 1, 1, dir);
    await assert.rejects(blaster.go([{ callerRelay: { address: '::1', port: 20_000 }, calleeRelay: at(20_002) }]), /not an IPv4 address and port: ::1 20000/);
  });
});
