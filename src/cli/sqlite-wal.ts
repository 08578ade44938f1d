/**
 * A SQLite database file as it reads with its write-ahead log: the pages of
 * the log's committed transactions laid over the file. A running program
 * (OpenClaw's gateway) keeps its latest writes in `<db>-wal` until a
 * checkpoint; a reader given the database file alone — sql.js reads a copy
 * in memory, and has no shared memory to read a log with — would miss them.
 *
 * @see https://www.sqlite.org/fileformat2.html#the_write_ahead_log
 */

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

/** The cumulative checksum of `data` after `s`, reading words big- or little-endian as the log's magic says. */
function checksum(data: Buffer, bigEndian: boolean, s: [number, number]): [number, number] {
  let [s0, s1] = s;
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const x0 = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const x1 = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

/**
 * `db` with the committed frames of `wal` applied, in rollback-journal mode
 * (so that a reader looks for no log). A log that is empty, torn or of
 * another database changes nothing beyond its last valid commit.
 */
export function withWal(db: Buffer, wal: Buffer | undefined): Buffer {
  let out = Buffer.from(db);
  if (wal && wal.length >= WAL_HEADER) {
    const magic = wal.readUInt32BE(0);
    const pageSize = wal.readUInt32BE(8);
    if ((magic === 0x377f0682 || magic === 0x377f0683) && pageSize >= 512 && (pageSize & (pageSize - 1)) === 0) {
      const bigEndian = (magic & 1) === 1;
      const salt = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
      let sum = checksum(wal.subarray(0, 24), bigEndian, [0, 0]);
      const pending = new Map<number, Buffer>();
      const committed = new Map<number, Buffer>();
      let size = out.length / pageSize;
      if (sum[0] === wal.readUInt32BE(24) && sum[1] === wal.readUInt32BE(28)) {
        for (let at = WAL_HEADER; at + FRAME_HEADER + pageSize <= wal.length; at += FRAME_HEADER + pageSize) {
          const head = wal.subarray(at, at + FRAME_HEADER);
          const page = wal.subarray(at + FRAME_HEADER, at + FRAME_HEADER + pageSize);
          if (head.readUInt32BE(8) !== salt[0] || head.readUInt32BE(12) !== salt[1]) break;
          sum = checksum(page, bigEndian, checksum(head.subarray(0, 8), bigEndian, sum));
          if (sum[0] !== head.readUInt32BE(16) || sum[1] !== head.readUInt32BE(20)) break;
          pending.set(head.readUInt32BE(0), page);
          const commitSize = head.readUInt32BE(4);
          if (commitSize > 0) {
            for (const [n, p] of pending) committed.set(n, p);
            pending.clear();
            size = commitSize;
          }
        }
      }
      if (committed.size > 0) {
        const next = Buffer.alloc(size * pageSize);
        out.copy(next, 0, 0, Math.min(out.length, next.length));
        for (const [n, p] of committed) if (n >= 1 && n <= size) p.copy(next, (n - 1) * pageSize);
        out = next;
      }
    }
  }
  // bytes 18 and 19: the file format versions, 2 in WAL mode
  if (out.length >= 100) out[18] = out[19] = 1;
  return out;
}
