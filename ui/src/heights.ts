// Row heights of a virtualized list (a task's transcript can reach millions of
// rows). Rows start at an estimated height and get their real one once drawn; the
// list needs "where does row i start" and "which row is at y" after every change,
// so the heights live in a Fenwick (binary indexed) tree: O(log n) for both, and for
// an update, where a plain prefix-sum array would be O(n) per update.

const INITIAL_CAPACITY = 16;

export class HeightIndex {
  /// `heights[i]`: row i's height (0-based).
  private heights: Float64Array;
  /// 1-based Fenwick tree: `tree[i]` is the sum of the heights of rows
  /// `(i - lowbit(i), i]` (1-based). Entries past `count` are stale and never read:
  /// `push` recomputes them.
  private tree: Float64Array;
  private count = 0;
  private readonly estimate: number;

  constructor(estimate: number) {
    this.estimate = sanitize(estimate);
    this.heights = new Float64Array(INITIAL_CAPACITY);
    this.tree = new Float64Array(INITIAL_CAPACITY + 1);
  }

  get length(): number {
    return this.count;
  }

  /// The height of all rows together: the list's scroll height.
  get total(): number {
    return this.prefix(this.count);
  }

  /// Appends `count` rows of the estimated height.
  push(count = 1): void {
    const added = Math.max(0, Math.floor(count));
    if (added === 0) return;
    this.reserve(this.count + added);
    for (let i = this.count + 1; i <= this.count + added; i++) {
      this.heights[i - 1] = this.estimate;
      // tree[i] covers (i - lowbit(i), i]: this row plus the subtrees
      // tree[i-1], tree[i-2], tree[i-4], … below it, all already up to date.
      let sum = this.estimate;
      const low = i & -i;
      for (let step = 1; step < low; step <<= 1) sum += this.tree[i - step];
      this.tree[i] = sum;
    }
    this.count += added;
  }

  /// Sets row `index`'s measured height; false when it did not change (nothing to
  /// re-layout) or the row does not exist (it was dropped meanwhile).
  set(index: number, height: number): boolean {
    if (!this.has(index)) return false;
    const value = sanitize(height);
    const delta = value - this.heights[index];
    if (delta === 0) return false;
    this.heights[index] = value;
    for (let i = index + 1; i <= this.count; i += i & -i) this.tree[i] += delta;
    return true;
  }

  /// Row `index`'s height; 0 for a row that does not exist.
  height(index: number): number {
    return this.has(index) ? this.heights[index] : 0;
  }

  /// Where row `index` starts: the sum of the heights before it. `index` is clamped
  /// to [0, length], so `offsetOf(length)` is the total.
  offsetOf(index: number): number {
    return this.prefix(Math.min(Math.max(0, Math.floor(index)), this.count));
  }

  /// The row containing y = `offset` (a row spans [start, start + height)), clamped
  /// to [0, length - 1]; 0 for an empty list.
  indexAt(offset: number): number {
    if (!(offset > 0)) return 0; // also NaN, and the overscroll bounce above the top
    return Math.min(this.lastStart(offset, true), Math.max(0, this.count - 1));
  }

  /// The rows to draw for a viewport of `viewport` pixels scrolled to `scrollTop`,
  /// plus `overscan` rows either side so fast scrolling shows no gap. Inclusive
  /// indices; `{ first: 0, last: -1 }` when there is nothing to draw.
  visibleRange(scrollTop: number, viewport: number, overscan: number): { first: number; last: number } {
    if (this.count === 0) return { first: 0, last: -1 };
    const extra = Math.max(0, Math.floor(overscan) || 0);
    const top = this.indexAt(scrollTop);
    // The last row starting above the bottom edge: a row that starts exactly there
    // is not visible.
    const bottom = scrollTop + Math.max(0, viewport);
    const lastVisible = bottom > 0 ? Math.min(this.lastStart(bottom, false), this.count - 1) : 0;
    const end = Math.max(top, lastVisible);
    return { first: Math.max(0, top - extra), last: Math.min(this.count - 1, end + extra) };
  }

  /// Forgets the first `count` rows (the list keeps only the newest ones, to bound
  /// memory). Rebuilds the tree in O(n), which also clears the rounding error that
  /// many fractional `set`s leave in the sums.
  dropFront(count: number): void {
    const dropped = Math.min(Math.max(0, Math.floor(count)), this.count);
    if (dropped === 0) return;
    this.heights.copyWithin(0, dropped, this.count);
    this.count -= dropped;
    const n = this.count;
    for (let i = 1; i <= n; i++) this.tree[i] = this.heights[i - 1];
    for (let i = 1; i <= n; i++) {
      const parent = i + (i & -i);
      if (parent <= n) this.tree[parent] += this.tree[i];
    }
  }

  private has(index: number): boolean {
    return Number.isInteger(index) && index >= 0 && index < this.count;
  }

  /// The sum of the first `rows` heights.
  private prefix(rows: number): number {
    let sum = 0;
    for (let i = rows; i > 0; i -= i & -i) sum += this.tree[i];
    return sum;
  }

  /// The last row starting at or before `offset` (`inclusive`), or strictly before
  /// it: the largest p in [0, length] with prefix(p) <= offset (< offset), for an
  /// offset > 0. Found by walking down the tree, where a binary search over prefix
  /// sums would take O(log² n). May be `length` when the offset is past the end.
  private lastStart(offset: number, inclusive: boolean): number {
    let pos = 0;
    let rest = offset;
    for (let step = highestBit(this.count); step > 0; step >>= 1) {
      const next = pos + step;
      if (next > this.count) continue;
      const sum = this.tree[next];
      if (inclusive ? sum <= rest : sum < rest) {
        pos = next;
        rest -= sum;
      }
    }
    return pos;
  }

  /// Grows both arrays by doubling, so pushes stay amortized O(log n).
  private reserve(rows: number): void {
    if (rows <= this.heights.length) return;
    let capacity = this.heights.length;
    while (capacity < rows) capacity *= 2;
    const heights = new Float64Array(capacity);
    heights.set(this.heights.subarray(0, this.count));
    // tree[i] depends only on rows <= i, so the filled entries stay valid.
    const tree = new Float64Array(capacity + 1);
    tree.set(this.tree.subarray(0, this.count + 1));
    this.heights = heights;
    this.tree = tree;
  }
}

/// A height is a finite, non-negative number of pixels; anything else (NaN from a
/// detached element, a negative from a bad measurement) would corrupt every offset
/// after it, so it counts as 0.
function sanitize(height: number): number {
  return Number.isFinite(height) && height > 0 ? height : 0;
}

function highestBit(n: number): number {
  return n > 0 ? 2 ** Math.floor(Math.log2(n)) : 0;
}
