import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimSnapshot, openLeases, removeStaleLeaseFiles } from '../../src/snapshot/leases.ts';
import { storeLayout, ensureStore, type StoreLayout } from '../../src/store/layout.ts';

const CHAIN = `sha256:${'ab'.repeat(32)}`;

describe('snapshot leases', () => {
  let dir: string;
  let layout: StoreLayout;
  let snapshot: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'berth-leases-'));
    layout = ensureStore(storeLayout(path.join(dir, 'store')));
    snapshot = path.join(layout.snapshots, 'ab'.repeat(32));
    mkdirSync(snapshot);
    writeFileSync(path.join(snapshot, 'file'), 'x');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lets nobody claim a snapshot while a lease on it is held, in this process or another', () => {
    const leases = openLeases(layout);
    leases.hold(CHAIN);
    expect(claimSnapshot(layout, CHAIN, snapshot, path.join(dir, 'donor'))).toBe(false);
    expect(existsSync(path.join(snapshot, 'file'))).toBe(true);
    leases.release();
    expect(claimSnapshot(layout, CHAIN, snapshot, path.join(dir, 'donor'))).toBe(true);
    expect(existsSync(snapshot)).toBe(false);
    expect(existsSync(path.join(dir, 'donor', 'file'))).toBe(true);
  });

  it('lets two lease sets share a snapshot and holds each only once', () => {
    const a = openLeases(layout);
    const b = openLeases(layout);
    a.hold(CHAIN);
    a.hold(CHAIN);
    b.hold(CHAIN);
    a.release();
    expect(claimSnapshot(layout, CHAIN, snapshot, path.join(dir, 'donor'))).toBe(false);
    b.release();
    expect(claimSnapshot(layout, CHAIN, snapshot, path.join(dir, 'donor'))).toBe(true);
  });

  it('reports a snapshot that is already gone as not claimed', () => {
    rmSync(snapshot, { recursive: true });
    expect(claimSnapshot(layout, CHAIN, snapshot, path.join(dir, 'donor'))).toBe(false);
  });

  it('drops lock files of snapshots that no longer exist', () => {
    const leases = openLeases(layout);
    leases.hold(CHAIN);
    leases.hold(`sha256:${'cd'.repeat(32)}`);
    leases.release();
    removeStaleLeaseFiles(layout, new Set(['ab'.repeat(32)]));
    expect(existsSync(path.join(layout.locks, 'snapshots', `${'ab'.repeat(32)}.lock`))).toBe(true);
    expect(existsSync(path.join(layout.locks, 'snapshots', `${'cd'.repeat(32)}.lock`))).toBe(false);
  });
});
