import { describe, expect, it } from "vitest";
import { HeightIndex } from "./heights";

/// mulberry32: a small seeded PRNG, so a failing random run can be replayed.
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/// The obvious O(n) version the index must agree with.
class NaiveHeights {
  rows: number[] = [];
  constructor(private readonly estimate: number) {}
  push(count: number) {
    for (let i = 0; i < count; i++) this.rows.push(this.estimate);
  }
  set(index: number, height: number): boolean {
    if (index < 0 || index >= this.rows.length || this.rows[index] === height) return false;
    this.rows[index] = height;
    return true;
  }
  offsetOf(index: number): number {
    let sum = 0;
    for (let i = 0; i < index; i++) sum += this.rows[i];
    return sum;
  }
  indexAt(offset: number): number {
    // The row whose [start, end) holds the offset, clamped.
    let start = 0;
    for (let i = 0; i < this.rows.length; i++) {
      if (offset < start + this.rows[i]) return i;
      start += this.rows[i];
    }
    return Math.max(0, this.rows.length - 1);
  }
  visibleRange(scrollTop: number, viewport: number, overscan: number) {
    if (this.rows.length === 0) return { first: 0, last: -1 };
    const top = Math.max(0, scrollTop);
    const bottom = scrollTop + viewport;
    // Visible: every row overlapping [top, bottom), or just the row at the top.
    let first = this.indexAt(top);
    let last = first;
    let start = 0;
    for (let i = 0; i < this.rows.length; i++) {
      if (start < bottom) last = Math.max(last, i);
      start += this.rows[i];
    }
    first = Math.max(0, first - overscan);
    last = Math.min(this.rows.length - 1, last + overscan);
    return { first, last };
  }
  dropFront(count: number) {
    this.rows.splice(0, count);
  }
}

function expectSame(index: HeightIndex, naive: NaiveHeights, random: () => number) {
  const n = naive.rows.length;
  expect(index.length).toBe(n);
  expect(index.total).toBe(naive.offsetOf(n));
  for (let probe = 0; probe < 20; probe++) {
    const i = Math.floor(random() * (n + 1));
    expect(index.offsetOf(i)).toBe(naive.offsetOf(i));
    if (i < n) expect(index.height(i)).toBe(naive.rows[i]);
    const y = Math.floor(random() * (index.total + 50)) - 10;
    expect(index.indexAt(y)).toBe(naive.indexAt(y));
    const viewport = Math.floor(random() * 300);
    const overscan = Math.floor(random() * 4);
    expect(index.visibleRange(y, viewport, overscan)).toEqual(naive.visibleRange(y, viewport, overscan));
  }
  // Row boundaries exactly: y at a row's start belongs to that row.
  if (n > 0) {
    const i = Math.floor(random() * n);
    expect(index.indexAt(naive.offsetOf(i))).toBe(naive.indexAt(naive.offsetOf(i)));
  }
}

describe("HeightIndex", () => {
  it("agrees with a plain array under random operations", () => {
    for (const seed of [1, 2, 3, 42, 2026]) {
      const random = prng(seed);
      const index = new HeightIndex(20);
      const naive = new NaiveHeights(20);
      for (let step = 0; step < 400; step++) {
        const roll = random();
        if (roll < 0.25) {
          const count = Math.floor(random() * 40);
          index.push(count);
          naive.push(count);
        } else if (roll < 0.85) {
          const i = Math.floor(random() * (naive.rows.length + 2)) - 1;
          // Integer heights (and some zeros) keep the sums exact for toBe.
          const height = random() < 0.1 ? 0 : Math.floor(random() * 120);
          expect(index.set(i, height)).toBe(naive.set(i, height));
        } else if (roll < 0.9) {
          const count = Math.floor(random() * (naive.rows.length / 3 + 2));
          index.dropFront(count);
          naive.dropFront(count);
        } else {
          expectSame(index, naive, random);
        }
      }
      expectSame(index, naive, random);
    }
  });

  it("starts empty", () => {
    const index = new HeightIndex(24);
    expect(index.length).toBe(0);
    expect(index.total).toBe(0);
    expect(index.offsetOf(0)).toBe(0);
    expect(index.offsetOf(5)).toBe(0);
    expect(index.indexAt(0)).toBe(0);
    expect(index.indexAt(100)).toBe(0);
    expect(index.height(0)).toBe(0);
    expect(index.set(0, 10)).toBe(false);
    expect(index.visibleRange(0, 500, 3)).toEqual({ first: 0, last: -1 });
    index.dropFront(3);
    expect(index.length).toBe(0);
  });

  it("keeps its sums when it grows past its initial capacity", () => {
    const index = new HeightIndex(10);
    for (let i = 0; i < 1000; i++) {
      index.push();
      index.set(i, i + 1);
    }
    expect(index.length).toBe(1000);
    expect(index.total).toBe((1000 * 1001) / 2);
    expect(index.offsetOf(100)).toBe((100 * 101) / 2);
    // One big push far past the capacity, then sets among the new rows.
    index.push(5000);
    expect(index.total).toBe((1000 * 1001) / 2 + 5000 * 10);
    expect(index.set(5999, 1)).toBe(true);
    expect(index.offsetOf(6000)).toBe((1000 * 1001) / 2 + 4999 * 10 + 1);
  });

  it("reports whether a set changed anything", () => {
    const index = new HeightIndex(20);
    index.push(3);
    expect(index.set(1, 20)).toBe(false);
    expect(index.set(1, 35)).toBe(true);
    expect(index.set(1, 35)).toBe(false);
    expect(index.set(3, 35)).toBe(false);
    expect(index.set(-1, 35)).toBe(false);
    expect(index.set(0.5, 35)).toBe(false);
    expect(index.total).toBe(75);
  });

  it("counts a bad measurement as 0, not as NaN in every offset after it", () => {
    const index = new HeightIndex(20);
    index.push(3);
    expect(index.set(0, Number.NaN)).toBe(true);
    expect(index.set(1, -5)).toBe(true);
    expect(index.set(2, Number.POSITIVE_INFINITY)).toBe(true);
    expect(index.total).toBe(0);
    expect(new HeightIndex(Number.NaN).total).toBe(0);
  });

  it("finds the row at an offset, clamped, with row starts inclusive", () => {
    const index = new HeightIndex(10);
    index.push(4);
    index.set(1, 0); // rows: [0,10) [10,10) [10,20) [20,30)
    expect(index.indexAt(-50)).toBe(0);
    expect(index.indexAt(Number.NaN)).toBe(0);
    expect(index.indexAt(0)).toBe(0);
    expect(index.indexAt(9.99)).toBe(0);
    expect(index.indexAt(10)).toBe(2); // the empty row holds no y
    expect(index.indexAt(29)).toBe(3);
    expect(index.indexAt(30)).toBe(3);
    expect(index.indexAt(1e9)).toBe(3);
    expect(index.offsetOf(4)).toBe(30);
    expect(index.offsetOf(99)).toBe(30);
    expect(index.offsetOf(-1)).toBe(0);
  });

  it("gives the rows in a viewport with overscan, clamped", () => {
    const index = new HeightIndex(10);
    index.push(100); // row i spans [10i, 10i + 10)
    expect(index.visibleRange(0, 50, 0)).toEqual({ first: 0, last: 4 });
    expect(index.visibleRange(5, 50, 0)).toEqual({ first: 0, last: 5 });
    expect(index.visibleRange(200, 50, 3)).toEqual({ first: 17, last: 27 });
    expect(index.visibleRange(0, 50, 3)).toEqual({ first: 0, last: 7 });
    expect(index.visibleRange(980, 50, 3)).toEqual({ first: 95, last: 99 });
    expect(index.visibleRange(5000, 50, 2)).toEqual({ first: 97, last: 99 });
    expect(index.visibleRange(-40, 50, 0)).toEqual({ first: 0, last: 0 });
    expect(index.visibleRange(300, 0, 0)).toEqual({ first: 30, last: 30 });
  });

  it("drops rows from the front and keeps the rest's heights", () => {
    const index = new HeightIndex(10);
    index.push(6);
    for (let i = 0; i < 6; i++) index.set(i, i + 1); // 1..6
    index.dropFront(2);
    expect(index.length).toBe(4);
    expect(index.height(0)).toBe(3);
    expect(index.total).toBe(3 + 4 + 5 + 6);
    expect(index.offsetOf(2)).toBe(7);
    index.push(1);
    expect(index.total).toBe(28);
    index.dropFront(-1);
    expect(index.length).toBe(5);
    index.dropFront(99);
    expect(index.length).toBe(0);
    expect(index.total).toBe(0);
  });

  it("handles fractional heights within rounding", () => {
    const index = new HeightIndex(20.5);
    index.push(1000);
    for (let i = 0; i < 1000; i += 3) index.set(i, 17.3);
    expect(index.total).toBeCloseTo(334 * 17.3 + 666 * 20.5, 6);
    expect(index.offsetOf(3)).toBeCloseTo(17.3 + 41, 9);
  });

  it("holds a million rows", () => {
    const n = 1_000_000;
    const index = new HeightIndex(20);
    index.push(n / 2);
    for (let i = 0; i < n / 2; i++) index.push();
    expect(index.length).toBe(n);
    expect(index.total).toBe(20 * n);
    // Every 1000th row measured at 50: 1000 rows, each 30 taller.
    for (let i = 0; i < n; i += 1000) expect(index.set(i, 50)).toBe(true);
    expect(index.total).toBe(20 * n + 30 * 1000);
    expect(index.offsetOf(1000)).toBe(50 + 999 * 20);
    expect(index.offsetOf(n)).toBe(index.total);
    // Row 500_000 is measured, preceded by 500 measured rows.
    const start = 500_000 * 20 + 500 * 30;
    expect(index.offsetOf(500_000)).toBe(start);
    expect(index.indexAt(start)).toBe(500_000);
    expect(index.indexAt(start + 49)).toBe(500_000);
    expect(index.indexAt(start + 50)).toBe(500_001);
    expect(index.indexAt(index.total - 1)).toBe(n - 1);
    expect(index.visibleRange(start, 100, 5)).toEqual({ first: 499_995, last: 500_008 });
    index.dropFront(n - 10);
    expect(index.length).toBe(10);
    expect(index.total).toBe(200);
  });
});
