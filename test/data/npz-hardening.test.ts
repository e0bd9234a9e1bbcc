/** .npz files built by hand to attack the reader (issue #12.10, #12.11). */
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseNpz } from '../../src/data/npy.js';
import { caught } from '../caught.js';

/** A one-entry zip archive; `declaredSize` is what the headers claim the entry inflates to. */
function zipOf(name: string, deflated: Uint8Array, declaredSize: number, crc: number): Uint8Array {
  const nameBytes = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(deflated.length, 18);
  local.writeUInt32LE(declaredSize, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(deflated.length, 20);
  central.writeUInt32LE(declaredSize, 24);
  central.writeUInt16LE(nameBytes.length, 28);
  central.writeUInt32LE(0, 42);
  const directoryOffset = local.length + nameBytes.length + deflated.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + nameBytes.length, 12);
  end.writeUInt32LE(directoryOffset, 16);
  return Buffer.concat([local, nameBytes, deflated, central, nameBytes, end]);
}

describe('.npz hardening', () => {
  it('stops inflating at the size the header declares (a zip bomb is refused without inflating it)', () => {
    const inflated = Buffer.alloc(64 * 2 ** 20); // 64 MiB of zeros deflate to about 64 KiB
    const bomb = zipOf('x.npy', zlib.deflateRawSync(inflated, { level: 9 }), 1024, 0);
    const error = caught(() => parseNpz(bomb, 'bomb.npz'));
    expect(error.code).toBe('ERR_BAD_BATCH');
    expect(error.message).toContain('inflates to more than the size its header declares');
  });

  it('a central directory that claims more entries, or fields, than the file holds is ERR_BAD_BATCH', () => {
    const good = zipOf('x.npy', zlib.deflateRawSync(Buffer.from('abc')), 3, 0);
    const manyEntries = Buffer.from(good);
    manyEntries.writeUInt16LE(0xfffe, manyEntries.length - 22 + 10);
    expect(caught(() => parseNpz(manyEntries)).code).toBe('ERR_BAD_BATCH');
    const longName = Buffer.from(good);
    const centralAt = good.length - 22 - 46 - 5;
    longName.writeUInt16LE(0xffff, centralAt + 28);
    expect(caught(() => parseNpz(longName)).code).toBe('ERR_BAD_BATCH');
  });
});
