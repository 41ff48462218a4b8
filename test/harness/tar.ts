// Tar surgery for docker load tests: USTAR entries as Go's archive/tar writes them, and cutting
// `docker save` output apart (its entries, without the end-of-archive blocks).

/** One 512-byte USTAR header (`type` "0" file, "2" symlink, "x" PAX, "L" GNU long name, ...). */
export function tarHeader(name: string, size: number, type = "0", link = ""): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "latin1");
  h.write("0000644\0", 100, "latin1");
  h.write("0000000\0", 108, "latin1");
  h.write("0000000\0", 116, "latin1");
  h.write(size.toString(8).padStart(11, "0") + "\0", 124, "latin1");
  h.write("00000000000\0", 136, "latin1");
  h.write(type, 156, "latin1");
  h.write(link, 157, 100, "latin1");
  h.write("ustar\0" + "00", 257, "latin1");
  return withChecksum(h);
}

/** Sets a header's checksum field from its bytes. */
export function withChecksum(h: Buffer): Buffer {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
  return h;
}

/** A header with its data, padded to a block. */
export function tarEntry(name: string, data: string | Buffer, type = "0", link = ""): Buffer {
  const body = typeof data === "string" ? Buffer.from(data) : data;
  return Buffer.concat([tarHeader(name, body.length, type, link), body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

/** A PAX extended header ('x') carrying `records`, for the entry after it. */
export function paxEntry(records: Record<string, string>): Buffer {
  let text = "";
  for (const [k, v] of Object.entries(records)) {
    const rec = ` ${k}=${v}\n`;
    let n = rec.length + 1;
    while (String(n).length + rec.length !== n) n++;
    text += n + rec;
  }
  return tarEntry("PaxHeaders/x", text, "x");
}

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(1024);

/** The archive's entries (each header with its data), without its end-of-archive blocks. */
export function tarEntries(tar: Buffer): Array<{ name: string; bytes: Buffer }> {
  const out: Array<{ name: string; bytes: Buffer }> = [];
  let off = 0;
  while (off + 512 <= tar.length && !tar.subarray(off, off + 512).every((b) => b === 0)) {
    const name = tar.toString("latin1", off, off + 100).replace(/\0.*$/s, "");
    const size = parseInt(tar.toString("latin1", off + 124, off + 136).replace(/\0.*$/s, "").trim() || "0", 8);
    const len = 512 + Math.ceil(size / 512) * 512;
    out.push({ name, bytes: tar.subarray(off, off + len) });
    off += len;
  }
  return out;
}

/** The archive's entries but `drop`, without the end-of-archive blocks. */
export function tarWithout(tar: Buffer, drop: readonly string[] = []): Buffer {
  return Buffer.concat(tarEntries(tar).filter((e) => !drop.includes(e.name)).map((e) => e.bytes));
}

/** The data of the archive's entry `name` (its first), as text. */
export function tarFile(tar: Buffer, name: string): string {
  const e = tarEntries(tar).find((x) => x.name === name);
  if (e === undefined) throw new Error(`no ${name} in the archive`);
  const size = parseInt(e.bytes.toString("latin1", 124, 136).replace(/\0.*$/s, "").trim() || "0", 8);
  return e.bytes.toString("utf8", 512, 512 + size);
}
