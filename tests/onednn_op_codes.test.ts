// The op codes the TS kernels pass to the addon come from the table the addon exports, looked up by
// name at registration: a missing or duplicated name fails registration with one line, and every
// name selects the operation it says (checked on hand-computed values).
import { describe, it, expect, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveOpCodes, NEEDED_OP_NAMES, type OpCodes } from '../src/backend/onednn/op_codes.js';
import { loadAddon, addonPath, type OnednnAddon } from '../src/backend/onednn/addon.js';

const loaded = loadAddon();
const addon: OnednnAddon | null = 'addon' in loaded ? loaded.addon : null;
if (!addon) console.warn(`onednn op-code checks against the addon skipped: ${'error' in loaded ? loaded.error : ''}`);

/** A table with every needed name, codes 0.. in NEEDED_OP_NAMES order. */
function fullTable(): Record<string, Record<string, number>> {
  const t: Record<string, Record<string, number>> = {};
  for (const [family, names] of Object.entries(NEEDED_OP_NAMES)) t[family] = Object.fromEntries(names.map((n, i) => [n, i]));
  return t;
}

describe('resolveOpCodes', () => {
  it('returns the codes of a complete table', () => {
    const c = resolveOpCodes(fullTable(), 'x.node');
    expect(c.binary.squaredDifference).toBe(6);
    expect(c.unary.relu6).toBe(10);
    expect(c.pool.avg).toBe(1);
  });

  it('names the file and the missing entry in one line', () => {
    const t = fullTable();
    delete t.unary.relu6;
    expect(() => resolveOpCodes(t, '/x/gradia_onednn.node')).toThrow(/^\/x\/gradia_onednn\.node: the addon's op-code table lacks unary\.relu6; rebuild/);
    const noFamily = fullTable();
    delete noFamily.activation;
    expect(() => resolveOpCodes(noFamily, 'a.node')).toThrow(/has no 'activation' family/);
    expect(() => resolveOpCodes(undefined, 'old.node')).toThrow(/^old\.node: the addon's op-code table is missing/);
    const notInt = fullTable();
    notInt.reduce.mean = 1.5;
    expect(() => resolveOpCodes(notInt, 'a.node')).toThrow(/lacks reduce\.mean/);
  });

  it('refuses two names with one code', () => {
    const t = fullTable();
    t.binary.min = t.binary.max;
    expect(() => resolveOpCodes(t, 'a.node')).toThrow(/gives binary\.min and binary\.max the same code 4/);
  });
});

describe.skipIf(!addon)('the addon exports every name the TS side needs', () => {
  it('its table resolves, and the table has no names the TS side does not know', () => {
    const a = addon!;
    resolveOpCodes(a.opCodes, addonPath());
    for (const [family, names] of Object.entries(NEEDED_OP_NAMES)) {
      expect(Object.keys(a.opCodes[family as keyof OpCodes]).sort(), family).toEqual([...names].sort());
    }
  });

  it('each name runs the operation it names (hand-computed values)', () => {
    const a = addon!;
    const c = resolveOpCodes(a.opCodes, addonPath());
    const x = Float32Array.from([3, -2, 0.5, 4]);
    const y = Float32Array.from([2, 4, -1, 4]);
    const bin = (op: number) => { const o = new Float32Array(4); a.binary(op, x, [4], y, [4], o, [4]); return [...o]; };
    expect(bin(c.binary.add)).toEqual([5, 2, -0.5, 8]);
    expect(bin(c.binary.sub)).toEqual([1, -6, 1.5, 0]);
    expect(bin(c.binary.mul)).toEqual([6, -8, -0.5, 16]);
    expect(bin(c.binary.div)).toEqual([1.5, -0.5, -0.5, 1]);
    expect(bin(c.binary.max)).toEqual([3, 4, 0.5, 4]);
    expect(bin(c.binary.min)).toEqual([2, -2, -1, 4]);
    expect(bin(c.binary.squaredDifference)).toEqual([1, 36, 2.25, 0]);

    const u = Float32Array.from([-2, 0.25, 4, 9]);
    const un = (op: number, alpha = 0) => { const o = new Float32Array(4); a.unary(op, u, o, 4, alpha); return [...o]; };
    expect(un(c.unary.relu)).toEqual([0, 0.25, 4, 9]);
    expect(un(c.unary.neg)).toEqual([2, -0.25, -4, -9]);
    expect(un(c.unary.sqrt).slice(1)).toEqual([0.5, 2, 3]);
    expect(un(c.unary.rsqrt).slice(1)).toEqual([2, 0.5, Math.fround(1 / 3)]);
    expect(un(c.unary.square)).toEqual([4, 0.0625, 16, 81]);
    expect(un(c.unary.abs)).toEqual([2, 0.25, 4, 9]);
    expect(un(c.unary.step, 0.5)).toEqual([0.5, 1, 1, 1]);
    expect(un(c.unary.relu6)).toEqual([0, 0.25, 4, 6]);
    expect(un(c.unary.exp)[1]).toBeCloseTo(Math.exp(0.25), 6);
    expect(un(c.unary.log)[2]).toBeCloseTo(Math.log(4), 6);
    expect(un(c.unary.sigmoid)[0]).toBeCloseTo(1 / (1 + Math.exp(2)), 6);

    // [outer 1, r 2, inner 2]: rows [3, -2] and [0.5, 4]
    const red = (op: number) => { const o = new Float32Array(2); a.reduce(op, x, 1, 2, 2, o); return [...o]; };
    expect(red(c.reduce.sum)).toEqual([3.5, 2]);
    expect(red(c.reduce.mean)).toEqual([1.75, 1]);
    expect(red(c.reduce.max)).toEqual([3, 4]);
    expect(red(c.reduce.min)).toEqual([0.5, -2]);

    // one 2x2 window over a 1x2x2x1 image
    const poolParams = [1, 2, 2, 1, 2, 2, 1, 1, 2, 2, 0, 0, 0, 0];
    const pool = (kind: number) => { const o = new Float32Array(1); a.pool(x, o, poolParams, kind); return o[0]; };
    expect(pool(c.pool.max)).toBe(4);
    expect(pool(c.pool.avg)).toBe(1.375);

    // 1x1 convolution with weight 1 and bias 0 over [-1, 2, 7]: the activation alone
    const cx = Float32Array.from([-1, 2, 7]);
    const convParams = [1, 1, 3, 1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 0, 0, 0, 0];
    const conv = (act: number, alpha = 0) => { const o = new Float32Array(3); a.conv2d(cx, Float32Array.of(1), Float32Array.of(0), o, convParams, act, alpha); return [...o]; };
    expect(conv(c.activation.linear)).toEqual([-1, 2, 7]);
    expect(conv(c.activation.relu)).toEqual([0, 2, 7]);
    expect(conv(c.activation.relu6)).toEqual([0, 2, 6]);
    expect(conv(c.activation.leakyrelu, 0.5)).toEqual([-0.5, 2, 7]);
    expect(conv(c.activation.elu)[0]).toBeCloseTo(Math.expm1(-1), 5);
    expect(conv(c.activation.sigmoid)[1]).toBeCloseTo(1 / (1 + Math.exp(-2)), 5);
  });

  it('an addon whose table lacks a name fails registration with one line and registers nothing', async () => {
    // a stand-in module: the real addon with binary.squaredDifference removed from its table
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradia-opcodes-'));
    const fake = path.join(dir, 'fake_addon.cjs');
    fs.writeFileSync(fake, `const real = require(${JSON.stringify(addonPath())});
const { squaredDifference, ...binary } = real.opCodes.binary;
module.exports = { ...real, opCodes: { ...real.opCodes, binary } };
`);
    const saved = process.env.GRADIA_ONEDNN_ADDON;
    try {
      vi.resetModules();
      process.env.GRADIA_ONEDNN_ADDON = fake;
      const { tf } = await import('../src/backend/tf.js');
      const mod = await import('../src/backend/onednn/index.js');
      const r = await mod.registerOnednnBackend();
      expect(r.ok).toBe(false);
      const reason = r.ok ? '' : r.reason;
      expect(reason).toContain(`${fake}: the addon's op-code table lacks binary.squaredDifference`);
      expect(reason.includes('\n')).toBe(false);
      expect(tf.findBackendFactory('onednn')).toBeNull();
    } finally {
      if (saved === undefined) delete process.env.GRADIA_ONEDNN_ADDON;
      else process.env.GRADIA_ONEDNN_ADDON = saved;
      fs.rmSync(dir, { recursive: true });
    }
  });
});
