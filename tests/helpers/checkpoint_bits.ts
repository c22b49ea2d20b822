// Bitwise comparison of two checkpoints' tensors (resume and multi-host tests).
import { expect } from 'vitest';
import { readSafetensors } from '../../src/model/safetensors.js';

export function tensorsOf(file: string): Map<string, Float32Array> {
  return new Map([...readSafetensors(file)].map(([k, v]) => [k, v.data]));
}

export function expectBitwiseEqual(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, v] of a) {
    const w = b.get(k)!;
    expect(Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength)), k).toBe(true);
  }
}
